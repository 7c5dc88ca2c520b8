"""``invoke sandbox.up``, ``sandbox.down`` and ``sandbox.status``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from orchestrator.errors import UsageError
from orchestrator.tasks.common import INVENTORY_HELP, load, reports_errors

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory
    from orchestrator.sandbox_settings import SandboxSettings


def _settings(loaded: Inventory) -> SandboxSettings:
    if loaded.cloud.sandbox is None:
        raise UsageError("this inventory does not use the sandbox (no cloud.sandbox section)")
    return loaded.cloud.sandbox


@task(help={"inventory": INVENTORY_HELP})
@reports_errors
def up(c: Context, inventory: str | None = None) -> None:
    """Start the local DigitalOcean emulator and its repo server if they are not running."""
    from orchestrator.sandbox import control, reposerver

    settings = _settings(load(c, inventory))
    info = control.ensure_running(settings)
    print(f"sandbox running: API {info.api_url} (pid {info.pid}), state in {info.state_dir}")
    server = reposerver.access(settings)
    print(
        f"repo server: ssh root@{server.address}:{server.port} (web root {server.web_root}), "
        f"serving {server.url}"
    )


@task(help={"inventory": INVENTORY_HELP})
@reports_errors
def down(c: Context, inventory: str | None = None) -> None:
    """Destroy every sandbox droplet, stop the emulator and the repo server."""
    from orchestrator.sandbox import control

    destroyed = control.stop(_settings(load(c, inventory)))
    print(
        f"sandbox stopped; destroyed {len(destroyed)} droplet(s){': ' if destroyed else ''}{', '.join(destroyed)}"
    )


@task(help={"inventory": INVENTORY_HELP})
@reports_errors
def status(c: Context, inventory: str | None = None) -> None:
    """Show whether the sandbox runs and which droplets it has."""
    from orchestrator.sandbox import control

    print(control.status(_settings(load(c, inventory))).describe())


namespace = Collection("sandbox", up, down, status)
