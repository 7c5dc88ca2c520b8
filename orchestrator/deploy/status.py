"""What runs where: ``invoke env.status`` for one environment or all of them.

Per environment and host: the desired version (the pin, or what the range takes from the
signed index, never a version that failed there), what is installed (``dpkg-query``), the
units' states, the last record, the lock holder, drift (installed is not desired, or was
installed by hand: no record says so), and what a promotion would take next.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from orchestrator.deploy.environments import Environment, health_variables
from orchestrator.deploy.health import check_health
from orchestrator.deploy.hoststate import HostState
from orchestrator.deploy.promotion import common_version, promotion_candidate
from orchestrator.deploy.records import failed_versions
from orchestrator.deploy.run import DeploySeams, published
from orchestrator.deploy.semver import parse_range
from orchestrator.deploy.survey import Survey, lock_holder, upstream_failures
from orchestrator.errors import OrchestratorError
from orchestrator.inventory import Inventory

# The records each host's status shows.
RECORDS_SHOWN = 20


def health_now(
    environment: Environment, state: Survey, components: tuple[str, ...]
) -> dict[str, str]:
    """Each host's health check, run now: "passed", or what it saw."""
    health = environment.health
    if health is None:
        return {name: "passed" for name in state.states}
    found: dict[str, str] = {}
    for name, host in state.states.items():
        version = host.version(components) or ""
        variables = health_variables(name, state.addresses[name], version, environment.name)
        # The check's text: the version the host runs, so a stale one does not pass.
        result = check_health(
            health.model_copy(update={"attempts": 1}), variables, state.shells[name],
            f"environments.{environment.name}.health", threading.Event(),
        )  # fmt: skip
        found[name] = "passed" if result.passed else f"failed: {result.output}"
    return found


def environment_status(
    inventory: Inventory,
    environment: Environment,
    seams: DeploySeams,
    surveyed: Callable[[Environment], Survey],
) -> dict[str, Any]:
    """The status of ``environment`` as JSON-ready data (see the module docstring)."""
    payload = inventory.payload(environment)
    components = payload.components
    state = surveyed(environment)
    try:
        records = [r for s in state.states.values() for r in s.records]
        failed = failed_versions(records, environment.name) | upstream_failures(
            inventory, environment, surveyed
        )
        range_ = parse_range(environment.version, prereleases=environment.prereleases)
        desired: str | None = range_.pin
        problem = None
        if desired is None:
            try:
                offered = published(seams.available(environment), payload, inventory.project.epoch)
                desired = range_.best(v for v in offered if v not in failed)
            except OrchestratorError as error:
                problem = str(error)
        first = next(iter(state.shells.values()))
        holder = lock_holder(first, inventory.host_files, environment.name)
        hosts = {}
        served = _served_ids(environment, state, components, seams)
        for name, host in state.states.items():
            hosts[name] = _host_view(host, environment, components, desired, served)
        return {
            "environment": environment.name,
            "version": environment.version,
            "desired": desired,
            "desired_problem": problem,
            "running": common_version(state.states, components),
            "failed_versions": sorted(failed),
            "lock": holder.describe() if holder is not None else None,
            "from": environment.upstream,
            "hosts": hosts,
        }
    finally:
        state.close()


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
            found = seams.image(environment, tag)
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
    installed = host.version(components)
    last = host.last_record(environment.name)
    recorded = host.recorded(environment.name, components)
    unsettled = {p: u for p, u in sorted(host.unsettled.items()) if p in components}
    drift = [f"{p} {u.version} is {u.describe()} (dpkg {u.state})" for p, u in unsettled.items()]
    # A package dpkg holds half-way is not "nothing": it is said above.
    if installed != desired and not (installed is None and unsettled):
        drift.append(f"installed {installed or 'nothing'}, desired {desired or 'nothing'}")
    if installed is not None and not recorded:
        drift.append("installed by hand: no deploy record says so")
    tag = host.installed_version(components)
    ids = served.get(tag) if tag is not None else None
    if tag is not None and tag in served and ids is None:
        drift.append(f"the registry does not say which image {tag} is: drift unknown")
    elif tag is not None and ids is not None:
        # A tag pushed over, or an image built on the host: not what the registry serves.
        stray = host.stray_images(components, ids)
        if stray:
            drift.append(
                f"{', '.join(stray)} run an image that is not {tag} as the registry serves it"
            )
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
        "last_health": None if last is None else last.health or None,
        "drift": drift,
    }


def next_promotion(
    inventory: Inventory, environment: Environment, surveyed: Callable[[Environment], Survey]
) -> dict[str, Any] | None:
    """What ``promote --to environment`` would take now, or why it would refuse."""
    if environment.upstream is None:
        return None
    upstream = inventory.environment(environment.upstream)
    state = surveyed(upstream)
    try:
        components = inventory.payload(upstream).components
        healthy = health_now(upstream, state, components)
        try:
            version = promotion_candidate(upstream.name, state.states, components, healthy, None)
            return {"from": upstream.name, "version": version, "eligible": True, "why": ""}
        except OrchestratorError as error:
            return {"from": upstream.name, "version": None, "eligible": False, "why": str(error)}
    finally:
        state.close()
