"""What runs where: ``invoke env.status`` for one environment or all of them.

Per environment and host: the desired version (the pin, or what the range takes from the
signed index or the registry, never a version that failed there or upstream, as the hosts'
records or the deploy ledger say), what is installed (``dpkg-query``, also what it holds
half-way; a Compose service's tag and the image it runs),
the units' states now, the last record and the health check it recorded (env.status runs
no check: see :func:`_host_view`), the lock holder, drift (installed is not desired, or
was installed by hand: no record says so), what failed here and upstream, and what a
promotion would take next, or why it would be refused. An environment of several
services is also shown service by service (``services``): each one's desired and running
version, the digest its last deploy resolved, and its drift, a row of the services by
environments matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.commands.deploy import host_files
from orchestrator.config.environments import Environment
from orchestrator.config.inventory import Inventory
from orchestrator.deploy.candidate import promotion_pick
from orchestrator.deploy.choose import (
    Offered,
    choose_on,
    desired_version,
    published,
    resolve_images,
)
from orchestrator.deploy.hoststate import HostState, Unsettled
from orchestrator.deploy.payload import Payload, payload_of
from orchestrator.deploy.promotion import common_version
from orchestrator.deploy.records import Record, failed_versions
from orchestrator.deploy.request import DeployRequest
from orchestrator.deploy.run import refuse_unsettled
from orchestrator.deploy.seams import DeploySeams
from orchestrator.deploy.sets import set_versions
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
        pinned = all(parse_range(s.version).pin is not None for s in payload.services)
        offered: Offered | None = None
        problem = None
        # Pins need the index only to say what a promotion would take.
        if not pinned or environment.upstream is not None:
            try:
                offered = _offered(inventory, payload, seams)
            except OrchestratorError as error:
                problem = str(error)
        desired = desired_version(payload, offered or {}, failed) if offered or pinned else None
        first = next(iter(state.shells.values()))
        holder = lock_holder(first, host_files(inventory), environment.name)
        hosts = {}
        served = _served_ids(payload, state, seams)
        for name, host in state.states.items():
            hosts[name] = _host_view(host, payload, desired, served)
        running = common_version(state.states, components)
        return {
            "environment": environment.name,
            "version": _version_of(payload),
            "desired": desired,
            "desired_problem": problem if not pinned else None,
            "running": running,
            "services": _service_views(payload, state, desired, running, hosts),
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


def _offered(inventory: Inventory, payload: Payload, seams: DeploySeams) -> Offered:
    """Each service's published versions."""
    environment, epoch = payload.environment, inventory.project.epoch
    return {
        name: published(seams.index.available(environment, name), payload, epoch)
        for name in payload.names
    }


def _version_of(payload: Payload) -> str:
    """The environment's version as the inventory says it: its range, or each service's."""
    if len(payload.services) == 1:
        return payload.services[0].version
    return ", ".join(f"{s.name} {s.version}" for s in payload.services)


def _service_views(
    payload: Payload,
    state: Survey,
    desired: str | None,
    running: str | None,
    hosts: dict[str, dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Each service as the services-by-environments matrix shows it."""
    wanted = set_versions(desired, payload.names) if desired else None
    runs = set_versions(running, payload.names) if running else None
    views = {}
    for service in payload.services:
        name = service.name
        digests = {
            r.digests[name]
            for host in state.states.values()
            if (r := host.last_record(payload.environment.name)) is not None
            and r.digests
            and name in r.digests
            and r.result in ("deployed", "rolled-back")
        }
        views[name] = {
            "version": service.version,
            "image": service.reference or None,
            "desired": (wanted or {}).get(name),
            "running": (runs or {}).get(name),
            "digest": digests.pop() if len(digests) == 1 else None,
            "drift": sorted(
                {d for view in hosts.values() for d in view["service_drift"].get(name, ())}
            ),
        }
    return views


def _next_promotion(
    inventory: Inventory,
    payload: Payload,
    seams: DeploySeams,
    surveyed: Callable[[Environment], Survey],
    state: Survey,
    offered: Offered | None,
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
        resolve_images(payload, seams.index, version)
    except OrchestratorError as error:
        return {"from": environment.upstream, "version": None, "eligible": False, "why": str(error)}
    return {"from": environment.upstream, "version": version, "eligible": True, "why": ""}


def _served_ids(
    payload: Payload, state: Survey, seams: DeploySeams
) -> dict[str, dict[str, tuple[str, ...] | None]]:
    """Per image service and tag its hosts run: the ids of its platform's image there.

    None when the registry cannot say (unreachable, no such tag): drift is then unknown,
    not a reason for the status to fail.
    """
    environment = payload.environment
    if environment.compose is None:
        return {}
    served: dict[str, dict[str, tuple[str, ...] | None]] = {}
    for service in payload.services:
        tags = sorted(
            {t for host in state.states.values() if (t := _tag(host, service.components))}
        )
        served[service.name] = {}
        for tag in tags:
            try:
                found = seams.index.image(environment, service.name, tag)
            except OrchestratorError:
                found = None
            image = found.image_for(f"linux/{environment.arch}") if found is not None else None
            served[service.name][tag] = image.ids if image is not None else None
    return served


def _tag(host: HostState, components: tuple[str, ...]) -> str | None:
    """The tag every one of ``components`` runs on ``host``; None if mixed or none."""
    found = {host.components.get(c) for c in components}
    return found.pop() if len(found) == 1 else None


def _host_view(
    host: HostState,
    payload: Payload,
    desired: str | None,
    served: dict[str, dict[str, tuple[str, ...] | None]],
) -> dict[str, Any]:
    """One host as env.status shows it.

    Its health is the check the last deploy ran, shown as recorded, with the record's time:
    env.status runs no check. Running one would make every look wait up to the check's
    timeout and send requests to every host of every environment; the units' states beside
    it are read now, and a promotion runs the check itself before it takes a version.
    """
    environment, components = payload.environment, payload.components
    installed = host.version(components)
    last = host.last_record(environment.name)
    unsettled = {p: u for p, u in sorted(host.unsettled.items()) if p in components}
    recorded = host.recorded(environment.name, components)
    image_drift = {
        service.name: _image_drift(host, service.components, served.get(service.name, {}))
        for service in payload.services
    }
    return {
        "installed": installed,
        "components": {p: host.components.get(p) for p in components},
        # Per service: the version its components run, and the image each container runs.
        "services": {
            service.name: {
                "installed": _tag(host, service.components),
                "images": {c: host.digests.get(c) for c in service.components},
            }
            for service in payload.services
        },
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
            *(d for drift in image_drift.values() for d in drift),
        ],
        "service_drift": {
            **_version_drift(host, payload, desired),
            **{n: d for n, d in image_drift.items() if d},
        },
    }


def _version_drift(host: HostState, payload: Payload, desired: str | None) -> dict[str, list[str]]:
    """Per service of several: a host running another version than the desired one."""
    if len(payload.services) == 1:
        return {}
    wanted = set_versions(desired, payload.names) if desired else {}
    drift = {}
    for service in payload.services:
        runs, should = _tag(host, service.components), (wanted or {}).get(service.name)
        if runs != should:
            drift[service.name] = [f"runs {runs or 'nothing'}, desired {should or 'nothing'}"]
    return drift


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
    tag = _tag(host, components)
    if tag is None or tag not in served:
        return []
    ids = served[tag]
    if ids is None:
        return [f"the registry does not say which image {tag} is: drift unknown"]
    # A tag pushed over, or an image built on the host: not what the registry serves.
    stray = host.stray_images(components, dict.fromkeys(components, ids))
    if not stray:
        return []
    return [f"{', '.join(stray)} run an image that is not {tag} as the registry serves it"]
