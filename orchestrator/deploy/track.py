"""``env.track``: which versions each environment's pins and ranges would move to now.

Every service's source is read (the signed index for the project's packages, the registry
for images) and its hosts' records for what failed there. A range moves to what a deploy
would take now: its newest version that did not fail, never below what runs. A pin stays
where it is until someone moves it: the tracker proposes the newest published version of
its ``track`` range (``^PIN`` by default: the same major version), which ``--write``
writes into the inventory. Pure but for what the seams read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.config.environments import Environment
from orchestrator.config.inventory import Inventory
from orchestrator.deploy.choose import (
    Offered,
    accounted_versions,
    desired_version,
    failed_on,
    newest_running,
    published,
)
from orchestrator.deploy.index import Available
from orchestrator.deploy.payload import Payload, Service, payload_of
from orchestrator.deploy.seams import DeploySeams
from orchestrator.deploy.sets import set_versions
from orchestrator.deploy.survey import Survey, upstream_failures
from orchestrator.semver import parse_range, precedence_key


@dataclass(frozen=True)
class Tracked:
    """One service of an environment as the tracker sees it.

    ``proposed`` is where it would move (None: nowhere new); ``pin`` says whether the
    inventory pins it, so that moving it means rewriting the inventory.
    """

    environment: str
    service: str
    version: str
    pin: bool
    running: str | None
    proposed: str | None
    why: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return self.__dict__.copy()


def track(
    inventory: Inventory,
    environment: Environment,
    seams: DeploySeams,
    surveyed: Callable[[Environment], Survey],
) -> list[Tracked]:
    """Each service of ``environment``: what it runs, and where its pin or range would move."""
    payload = payload_of(inventory, environment)
    epoch = inventory.project.epoch
    offered: Offered = {
        name: published(seams.index.available(environment, name), payload, epoch)
        for name in payload.names
    }
    state = surveyed(environment)
    try:
        upstream = upstream_failures(inventory, environment, surveyed, seams.ledger)
        also = seams.ledger.failed(environment.name).union(*upstream.values())
        failed = failed_on(state, environment.name, also)
        running = newest_running(
            accounted_versions(state, environment.name, payload.components), payload.names
        )
    finally:
        state.close()
    runs = set_versions(running, payload.names) if running else {}
    ranged = desired_version(payload, offered, failed)
    takes = set_versions(ranged, payload.names) if ranged else {}
    return [
        _tracked(payload, service, offered[service.name], (runs or {}).get(service.name),
                 (takes or {}).get(service.name))
        for service in payload.services
    ]  # fmt: skip


def _tracked(
    payload: Payload,
    service: Service,
    offered: Mapping[str, Available],
    running: str | None,
    takes: str | None,
) -> Tracked:
    """Where ``service`` would move: its range's pick, or its pin's ``track`` range's newest."""
    name = payload.environment.name
    pin = parse_range(service.version).pin
    if pin is None:
        if takes is None:
            why = "its range takes no published version that did not fail here"
            return Tracked(name, service.name, service.version, False, running, None, why)
        if running is not None and precedence_key(takes) <= precedence_key(running):
            why = f"its range takes nothing newer than {running}"
            return Tracked(name, service.name, service.version, False, running, None, why)
        why = f"its range takes {takes}"
        return Tracked(name, service.name, service.version, False, running, takes, why)
    follow = service.track or f"^{pin}"
    newest = parse_range(follow, prereleases=service.prereleases).best(offered)
    if newest is None or precedence_key(newest) <= precedence_key(pin):
        why = f"no published version of {follow!r} is newer than the pin"
        return Tracked(name, service.name, service.version, True, running, None, why)
    why = f"the newest of {follow!r} is {newest}: move the pin"
    return Tracked(name, service.name, service.version, True, running, newest, why)


def describe_tracked(tracked: list[Tracked]) -> str:
    """The tracker's findings as text, one line per service."""
    lines = []
    for item in tracked:
        move = f"-> {item.proposed}" if item.proposed else "stays"
        kind = "pin" if item.pin else "range"
        lines.append(
            f"{item.environment} {item.service}: {kind} {item.version!r}, runs "
            f"{item.running or 'nothing'}; {move} ({item.why})"
        )
    return "\n".join(lines)
