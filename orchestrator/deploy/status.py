"""What runs where: ``invoke env.status`` for one environment or all of them.

Per environment and host: the desired version (the pin, or what the range takes from the
signed index, never a version that failed there or upstream, as the hosts' records or
the deploy ledger say), what is installed (``dpkg-query``, also what it holds half-way),
the units' states now, the last record and the health check it recorded (env.status runs
no check: see :func:`_host_view`), the lock holder, drift (installed is not desired, or
was installed by hand: no record says so), what failed here and upstream, and what a
promotion would take next, or why it would be refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.commands.deploy import host_files
from orchestrator.config.environments import Environment
from orchestrator.config.inventory import Inventory
from orchestrator.deploy.candidate import promotion_pick
from orchestrator.deploy.hoststate import HostState, Unsettled
from orchestrator.deploy.index import Available
from orchestrator.deploy.payload import Payload, payload_of
from orchestrator.deploy.promotion import common_version
from orchestrator.deploy.records import Record, failed_versions
from orchestrator.deploy.run import (
    DeployRequest,
    choose_on,
    published,
    refuse_unsettled,
    served_image_ids,
)
from orchestrator.deploy.seams import DeploySeams
from orchestrator.deploy.survey import Survey, lock_holder, upstream_failures
from orchestrator.errors import OrchestratorError, UsageError
from orchestrator.semver import parse_range

# The records each host's status shows.
RECORDS_SHOWN = 20


def environment_status(
    inventory: Inventory,
    environment: Environment,
    seams: DeploySeams,
    surveyed: Callable[[Environment], Survey],
) -> dict[str, Any]:
    """The status of ``environment`` as JSON-ready data (see the module docstring)."""
    payload = payload_of(inventory, environment)
    components = payload.components
    state = surveyed(environment)
    try:
        records = [r for s in state.states.values() for r in s.records]
        here = failed_versions(records, environment.name) | seams.ledger.failed(environment.name)
        upstream = upstream_failures(inventory, environment, surveyed, seams.ledger)
        failed = here.union(*upstream.values())
        range_ = parse_range(environment.version, prereleases=environment.prereleases)
        offered: dict[str, Available] | None = None
        problem = None
        # A pin needs the index only to say what a promotion would take.
        if range_.pin is None or environment.upstream is not None:
            try:
                offered = published(
                    seams.index.available(environment), payload, inventory.project.epoch
                )
            except OrchestratorError as error:
                problem = str(error)
        desired = range_.pin
        if desired is None and offered is not None:
            desired = range_.best(v for v in offered if v not in failed)
        first = next(iter(state.shells.values()))
        holder = lock_holder(first, host_files(inventory), environment.name)
        hosts = {}
        served = _served_ids(environment, state, components, seams)
        for name, host in state.states.items():
            hosts[name] = _host_view(host, environment, components, desired, served)
        return {
            "environment": environment.name,
            "version": environment.version,
            "desired": desired,
            "desired_problem": problem if range_.pin is None else None,
            "running": common_version(state.states, components),
            "failed_versions": sorted(here),
            # Never taken here either, but not this environment's failures.
            "failed_upstream": {name: sorted(found) for name, found in upstream.items() if found},
            "lock": holder.describe() if holder is not None else None,
            "from": environment.upstream,
            "hosts": hosts,
            "next_promotion": _next_promotion(
                inventory, payload, seams, surveyed, state, offered, problem
            ),
        }
    finally:
        state.close()


def _next_promotion(
    inventory: Inventory,
    payload: Payload,
    seams: DeploySeams,
    surveyed: Callable[[Environment], Survey],
    state: Survey,
    offered: dict[str, Available] | None,
    problem: str | None,
) -> dict[str, Any] | None:
    """What ``promote --to`` this environment would take now, or why it would be refused.

    The rules are promote's own: what upstream runs healthy now, then every check the
    deploy makes on this environment's hosts before it changes one.
    """
    environment = payload.environment
    if environment.upstream is None:
        return None
    try:
        version = promotion_pick(inventory, environment, seams, surveyed, None)
        if offered is None:
            raise UsageError(problem or "the published versions cannot be read")
        refuse_unsettled(state)
        choose_on(
            payload, DeployRequest(environment.name, version, "promote"), state, offered,
            seams.ledger.failed(environment.name),
        )  # fmt: skip
        served_image_ids(payload, seams.index, version)
    except OrchestratorError as error:
        return {"from": environment.upstream, "version": None, "eligible": False, "why": str(error)}
    return {"from": environment.upstream, "version": version, "eligible": True, "why": ""}


def _served_ids(
    environment: Environment, state: Survey, components: tuple[str, ...], seams: DeploySeams
) -> dict[str, tuple[str, ...] | None]:
    """Per tag a Compose environment's hosts run: the ids of its platform's image there.

    None when the registry cannot say (unreachable, no such tag): drift is then unknown,
    not a reason for the status to fail.
    """
    if environment.compose is None:
        return {}
    tags = sorted(
        {t for host in state.states.values() if (t := host.installed_version(components))}
    )
    served: dict[str, tuple[str, ...] | None] = {}
    for tag in tags:
        try:
            found = seams.index.image(environment, tag)
        except OrchestratorError:
            found = None
        image = found.image_for(f"linux/{environment.arch}") if found is not None else None
        served[tag] = image.ids if image is not None else None
    return served


def _host_view(
    host: HostState,
    environment: Environment,
    components: tuple[str, ...],
    desired: str | None,
    served: dict[str, tuple[str, ...] | None],
) -> dict[str, Any]:
    """One host as env.status shows it.

    Its health is the check the last deploy ran, shown as recorded, with the record's time:
    env.status runs no check. Running one would make every look wait up to the check's
    timeout and send requests to every host of every environment; the units' states beside
    it are read now, and a promotion runs the check itself before it takes a version.
    """
    installed = host.version(components)
    last = host.last_record(environment.name)
    unsettled = {p: u for p, u in sorted(host.unsettled.items()) if p in components}
    recorded = host.recorded(environment.name, components)
    return {
        "installed": installed,
        "components": {p: host.components.get(p) for p in components},
        # What dpkg holds in another state than installed or absent, as it says it.
        "unsettled": {
            p: {"dpkg": u.state, "version": u.version, "state": u.describe()}
            for p, u in unsettled.items()
        },
        "units": host.units,
        "last_record": None if last is None else last.__dict__,
        # The environment's last records on this host, oldest first (the page's deploys).
        "records": [r.__dict__ for r in host.records if r.environment == environment.name][
            -RECORDS_SHOWN:
        ],
        **_recorded_health(last),
        "drift": [
            *_package_drift(installed, desired, unsettled, recorded),
            *_image_drift(host, components, served),
        ],
    }


def _recorded_health(last: Record | None) -> dict[str, Any]:
    """The health check the last deploy ran, as recorded, and when; None for none."""
    if last is None or not last.health:
        return {"last_health": None, "last_health_at": None}
    return {"last_health": last.health, "last_health_at": last.time}


def _package_drift(
    installed: str | None, desired: str | None, unsettled: dict[str, Unsettled], recorded: bool
) -> list[str]:
    """How a host's packages stray: held half-way, not the desired version, or not deployed."""
    drift = [f"{p} {u.version} is {u.describe()} (dpkg {u.state})" for p, u in unsettled.items()]
    # A package dpkg holds half-way is not "nothing": it is said above.
    if installed != desired and not (installed is None and unsettled):
        drift.append(f"installed {installed or 'nothing'}, desired {desired or 'nothing'}")
    if installed is not None and not recorded:
        drift.append("installed by hand: no deploy record says so")
    return drift


def _image_drift(
    host: HostState, components: tuple[str, ...], served: dict[str, tuple[str, ...] | None]
) -> list[str]:
    """How a Compose host's containers stray from the image the registry serves for their tag."""
    tag = host.installed_version(components)
    if tag is None or tag not in served:
        return []
    ids = served[tag]
    if ids is None:
        return [f"the registry does not say which image {tag} is: drift unknown"]
    # A tag pushed over, or an image built on the host: not what the registry serves.
    stray = host.stray_images(components, ids)
    if not stray:
        return []
    return [f"{', '.join(stray)} run an image that is not {tag} as the registry serves it"]
