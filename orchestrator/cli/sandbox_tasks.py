"""``invoke sandbox.up``, ``sandbox.down`` and ``sandbox.status``."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from orchestrator.cli.common import INVENTORY_HELP, load, reports_errors
from orchestrator.cli.wiring.servers import sandbox_server_specs
from orchestrator.config.inventory import Inventory
from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.errors import UsageError
from orchestrator.sandbox import control, reposerver, servers, vendor


def _settings(loaded: Inventory) -> SandboxSettings:
    if loaded.cloud.sandbox is None:
        raise UsageError("this inventory does not use the sandbox (no cloud.sandbox section)")
    return loaded.cloud.sandbox


@task(help={"inventory": INVENTORY_HELP})
@reports_errors
def up(c: Context, inventory: str | None = None) -> None:
    """Start the local DigitalOcean emulator, its repo server, registry, Python index and servers."""
    loaded = load(c, inventory)
    settings = _settings(loaded)
    info = control.ensure_running(settings)
    print(f"sandbox running: API {info.api_url} (pid {info.pid}), state in {info.state_dir}")
    server = reposerver.access(settings)
    print(
        f"repo server: ssh root@{server.address}:{server.port} (web root {server.web_root}), "
        f"serving {server.url}"
    )
    if loaded.registry is not None and loaded.registry.sandbox:
        images = control.ensure_registry(settings)
        print(
            f"registry: {images.url} (login {images.username}), with {vendor.REPOSITORY}:"
            f"{','.join(vendor.TAGS)} from an outside publisher"
        )
    if loaded.python_index is not None and loaded.python_index.sandbox:
        index = control.ensure_python_index(settings)
        print(
            f"python index: {index.url} (pages {index.simple_url}, upload login {index.username})"
        )
    specs = sandbox_server_specs(loaded)
    if specs:
        booted = servers.ensure_servers(settings, specs)
        for access in booted.values():
            print(f"server {access.name}: ssh {access.user}@{access.address}:{access.port}")


@task(help={"inventory": INVENTORY_HELP})
@reports_errors
def down(c: Context, inventory: str | None = None) -> None:
    """Destroy every sandbox droplet, stop the emulator and the repo server."""
    destroyed = control.stop(_settings(load(c, inventory)))
    print(
        f"sandbox stopped; destroyed {len(destroyed)} droplet(s){': ' if destroyed else ''}{', '.join(destroyed)}"
    )


@task(help={"inventory": INVENTORY_HELP})
@reports_errors
def status(c: Context, inventory: str | None = None) -> None:
    """Show whether the sandbox runs and which droplets it has."""
    print(control.status(_settings(load(c, inventory))).describe())


namespace = Collection("sandbox", up, down, status)
