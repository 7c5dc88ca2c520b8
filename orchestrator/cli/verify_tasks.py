"""``invoke verify``: the smoke test after a release, with real package clients."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from orchestrator.cli.common import INVENTORY_HELP, load, reports_errors
from orchestrator.cli.wiring.images import image_registry
from orchestrator.cli.wiring.pyindex import python_pages
from orchestrator.cli.wiring.sandbox import ensure_sandbox
from orchestrator.errors import UsageError
from orchestrator.verify.run import verify_inventory
from orchestrator.verify.table import render_table
from orchestrator.version import Channel, check_package_version


@task(
    help={
        "version": "package version that must be offered, e.g. 1.2.3 or 1.3.0~rc.1",
        "channel": "only this channel (default: the version's, else every published one)",
        "target": "only the publish target of this name (default: all)",
        "inventory": INVENTORY_HELP,
    }
)
@reports_errors
def verify(
    c: Context,
    version: str | None = None,
    channel: str | None = None,
    target: str | None = None,
    inventory: str | None = None,
) -> None:
    """Check every published repository with apt-get, dnf and zypper, and the images; exit 1 on a failure."""
    if channel is not None and channel not in {known.value for known in Channel}:
        raise UsageError(
            f"--channel {channel[:40]!r} is not a channel: use "
            + ", ".join(known.value for known in Channel)
        )
    if version is not None:
        check_package_version(version, "--version")
    loaded = load(c, inventory)
    # The sandbox's repo server serves over HTTP what was published, also after a restart.
    ensure_sandbox(loaded)
    results = verify_inventory(
        loaded,
        version=version,
        channel=channel,
        target=target,
        registry=image_registry(loaded) if loaded.registry is not None else None,
        python_index=python_pages(loaded),
        say=lambda line: print(line, flush=True),
    )
    print(render_table(results))
    if not all(result.ok for result in results):
        raise Exit(code=1)
