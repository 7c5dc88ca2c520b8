"""Which DigitalOcean API an inventory talks to, and with which token.

The sandbox inventory talks to the local emulator (started on demand) with the
sandbox's own token; any other inventory needs ``DIGITALOCEAN_ACCESS_TOKEN``. Nothing
else differs, so a rehearsal in the sandbox runs the same code as a real release.
"""

from __future__ import annotations

from orchestrator.cloud.digitalocean import REAL_API, DigitalOceanClient, token_from_environment
from orchestrator.errors import UsageError
from orchestrator.inventory import Inventory
from orchestrator.sandbox import control


def check_credentials(inventory: Inventory) -> None:
    """Fail with a usage error before any request when the inventory's cloud lacks a token."""
    if inventory.cloud.provider == "digitalocean" and inventory.cloud.sandbox is None:
        token_from_environment()


def open_client(inventory: Inventory) -> DigitalOceanClient:
    """A client for the inventory's DigitalOcean API, starting the sandbox if it needs it."""
    cloud = inventory.cloud
    if cloud.provider != "digitalocean":
        raise UsageError(
            f"provider {cloud.provider!r} has no droplets to manage: it uses the hosts in cloud.hosts"
        )
    if cloud.sandbox is not None:
        info = control.ensure_running(cloud.sandbox)
        return DigitalOceanClient(info.token, info.api_url)
    return DigitalOceanClient(token_from_environment(), cloud.api_endpoint or REAL_API)
