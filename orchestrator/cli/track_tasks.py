"""``env.track``: where each environment's pins and ranges would move, and moving the pins.

It reads every service's source and every environment's hosts (for what runs and what
failed there), changes no host, and with ``--write`` rewrites the pins it would move in
the inventory (ranges stay: a deploy takes what they accept); ``--push`` proposes that as
a pushed branch (see :mod:`orchestrator.cli.pins`).
"""

from __future__ import annotations

from collections.abc import Sequence
from json import dumps

from invoke.context import Context
from invoke.tasks import task

from orchestrator.cli.common import INVENTORY_HELP, inventory_path, load, reports_errors
from orchestrator.cli.pins import PUSH_HELP, PinRequest, repository_for, write_pins
from orchestrator.cli.wiring.deploy import deploy_seams
from orchestrator.deploy.page import promotion_order
from orchestrator.deploy.survey import Surveys, upstream_chain
from orchestrator.deploy.track import Tracked, describe_tracked, track
from orchestrator.errors import UsageError


@task(
    name="track",
    help={
        "env": "only this environment (default: every one)",
        "write": "rewrite the pins that would move in the inventory file (ranges stay)",
        "json": "print JSON",
        **PUSH_HELP,
        "inventory": INVENTORY_HELP,
    },
)
@reports_errors
def track_versions(
    c: Context,
    env: str | None = None,
    write: bool = False,
    push: bool = False,
    remote: str | None = None,
    merge: str | None = None,
    json: bool = False,
    inventory: str | None = None,
) -> None:
    """Per environment and service: what runs, and where its pin or range would move now."""
    asked = PinRequest(write, push, remote, merge).checked()
    loaded = load(c, inventory)
    chosen = [loaded.environment(env)] if env else promotion_order(loaded.environments)
    if push and len(chosen) != 1:
        raise UsageError("--push proposes one environment's pins: name it with --env ENV")
    path = inventory_path(c, inventory)
    repository = repository_for(asked, path)
    seams = deploy_seams(loaded)
    surveys = Surveys(loaded, seams)
    try:
        needed = {e.name: e for e in chosen}
        needed |= {u.name: u for e in chosen for u in upstream_chain(loaded, e)}
        surveys.read_all(list(needed.values()))
        found = {e.name: track(loaded, e, seams, surveys) for e in chosen}
    finally:
        surveys.close()
    print(
        dumps({n: [t.to_json() for t in ts] for n, ts in found.items()}, indent=2)
        if json
        else "\n".join(describe_tracked(ts) for ts in found.values())
    )
    if write:
        for name, tracked in found.items():
            pins = _pins(loaded.environment(name).services, tracked)
            if not pins:
                print(f"{name}: no pin moves")
                continue
            for line in write_pins(path, name, pins, asked, repository):
                print(line)


def _pins(services: Sequence[object], tracked: list[Tracked]) -> dict[str | None, str]:
    """The pins to rewrite: each pinned service's proposed version (None: the environment's own)."""
    return {
        (item.service if services else None): item.proposed
        for item in tracked
        if item.pin and item.proposed is not None
    }
