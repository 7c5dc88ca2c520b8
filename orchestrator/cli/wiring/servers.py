"""The sandbox servers an environment lists (``host_key: sandbox``), set up and started."""

from __future__ import annotations

from orchestrator.commands.deploy import sudoers_file
from orchestrator.config.environments import Environment, ServerHost
from orchestrator.config.inventory import Inventory
from orchestrator.config.schema import SANDBOX_HOST_KEY
from orchestrator.deploy.payload import Compose, payload_of
from orchestrator.errors import SandboxError, UsageError
from orchestrator.sandbox import control, servers
from orchestrator.sandbox.composeproject import project_files
from orchestrator.sandbox.registry import host_access as registry_host_access
from orchestrator.sandbox.servers import EngineRole, ServerAccess, ServerSpec

# Where a sandbox server's administrator puts the lines of env.sudoers (in its root).
SUDOERS_FILE = "etc/sudoers.d/relorch"


def _server_specs(inventory: Inventory, environment: Environment) -> list[ServerSpec]:
    """The sandbox servers of ``environment``, set up as their administrator would.

    A login other than root is a user with the sandbox's client key and the sudoers lines
    ``env.sudoers`` prints; a Compose environment's servers run Docker, logged in to pull.
    """
    hosts = [h for h in environment.listed_hosts if h.host_key == SANDBOX_HOST_KEY]
    sandbox = inventory.cloud.sandbox
    if sandbox is None or not hosts:
        return []
    payload = payload_of(inventory, environment)
    engine: EngineRole | None = None
    pull_login = None
    files: dict[str, str] = {}
    if isinstance(payload, Compose):
        control.ensure_registry(sandbox)
        access = registry_host_access(sandbox)
        # The hosts log in to, and their project names, the image as the deploy pulls it.
        registry = payload.reference.partition("/")[0]
        engine, pull_login = "run", (registry, access.username, access.password)
        files = project_files(payload.project)
    return [
        ServerSpec(
            h.name, h.address, h.port, engine=engine, pull_login=pull_login,
            users=() if h.user == "root" else (h.user,),
            files=tuple((files | _sudoers(environment, h)).items()),
        )
        for h in hosts
    ]  # fmt: skip


def _sudoers(environment: Environment, host: ServerHost) -> dict[str, str]:
    if host.become != "sudo":
        return {}
    return {SUDOERS_FILE: sudoers_file(environment.name, [host.user])}


def sandbox_servers(inventory: Inventory, environment: Environment) -> dict[str, ServerAccess]:
    """The running sandbox servers of ``environment`` by host name, booted if need be."""
    sandbox = inventory.cloud.sandbox
    if sandbox is None or not any(h.host_key == SANDBOX_HOST_KEY for h in environment.listed_hosts):
        return {}
    control.ensure_running(sandbox)
    try:
        return servers.ensure_servers(sandbox, _server_specs(inventory, environment))
    except SandboxError as error:
        raise UsageError(f"environment {environment.name}: {error}") from None


def sandbox_server_specs(inventory: Inventory) -> list[ServerSpec]:
    """Every sandbox server the inventory's environments list (``host_key: sandbox``)."""
    return [spec for e in inventory.environments for spec in _server_specs(inventory, e)]
