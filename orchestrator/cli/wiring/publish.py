"""The sandbox repo server's pinned host key and client key, for ``host_key: sandbox``."""

from __future__ import annotations

from orchestrator.config.inventory import Inventory, SshPublish
from orchestrator.config.schema import SANDBOX_HOST_KEY
from orchestrator.errors import UsageError
from orchestrator.sandbox import control, reposerver


def _sandbox_server(config: SshPublish, inventory: Inventory) -> SshPublish:
    sandbox = inventory.cloud.sandbox
    if sandbox is None:
        raise UsageError(f"publish {config.name!r}: host_key 'sandbox' needs cloud.sandbox")
    control.ensure_running(sandbox)
    server = reposerver.access(sandbox)
    if (config.host, config.port, config.path) != (server.address, server.port, server.web_root):
        raise UsageError(
            f"publish {config.name!r} uses the sandbox's host key, so host, port and path must "
            f"be the sandbox repo server's: {server.address}, {server.port}, {server.web_root}"
        )
    return config.model_copy(
        update={"host_key": server.host_key, "identity_file": server.identity_file}
    )


def with_publish_access(inventory: Inventory) -> Inventory:
    """The inventory with each ``host_key: sandbox`` target's real key and client key."""
    publish = [
        _sandbox_server(config, inventory)
        if isinstance(config, SshPublish) and config.host_key == SANDBOX_HOST_KEY
        else config
        for config in inventory.publish
    ]
    return inventory.model_copy(update={"publish": publish})
