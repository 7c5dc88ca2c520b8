"""What a promotion takes from its upstream environment: ``promote`` and ``env.status`` alike.

The version (or set of services' versions) the upstream environment (``from``) runs on
every host, healthy now (each service's check is run) and as their records account for
it, not failed there (as the hosts' records or the deploy ledger say); a Compose
environment's hosts must run the very images the registry serves under those tags.
``--version`` takes an older one it proved instead; ``--service`` carries one service's
version, the others staying as they run here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from orchestrator.config.environments import Environment, health_variables
from orchestrator.config.inventory import Inventory
from orchestrator.deploy.choose import resolve_images
from orchestrator.deploy.health import check_health
from orchestrator.deploy.payload import Payload, payload_of
from orchestrator.deploy.promotion import common_version, promotion_candidate
from orchestrator.deploy.seams import DeploySeams, ReleaseIndex
from orchestrator.deploy.sets import set_text, set_versions
from orchestrator.deploy.survey import Survey
from orchestrator.errors import UsageError


def health_now(payload: Payload, state: Survey) -> dict[str, str]:
    """Each host's health checks, run now on every host at once: "passed", or what they saw."""
    environment = payload.environment
    checked = [s for s in payload.services if s.health is not None]
    if not checked:
        return {name: "passed" for name in state.states}

    def check(name: str) -> str:
        running = state.states[name].version(payload.components) or ""
        versions = set_versions(running, payload.names) or {}
        seen = []
        for service in checked:
            assert service.health is not None
            once = service.health.model_copy(update={"attempts": 1})
            # The check's text: the version the host runs, so a stale one does not pass.
            version = versions.get(service.name, running)
            variables = health_variables(name, state.addresses[name], version, environment.name)
            result = check_health(
                once, variables, state.shells[name], f"environments.{environment.name}.health",
                threading.Event(),
            )  # fmt: skip
            if not result.passed:
                prefix = "" if len(payload.services) == 1 else f"{service.name} "
                seen.append(f"{prefix}failed: {result.output}")
        return "; ".join(seen) or "passed"

    with ThreadPoolExecutor(max_workers=max(1, min(32, len(state.states)))) as pool:
        return dict(zip(state.states, pool.map(check, state.states), strict=True))


def refuse_stray_images(payload: Payload, state: Survey, index: ReleaseIndex, version: str) -> None:
    """UsageError when a Compose host upstream runs another image than the registry's ``version``.

    What it proved healthy is then not what the registry would give the next environment.
    """
    if payload.environment.compose is None:
        return
    try:
        resolved = resolve_images(payload, index, version)
    except UsageError as error:
        raise UsageError(f"{error}: nothing is promoted") from None
    stray = sorted(
        name
        for name, host in state.states.items()
        if host.stray_images(payload.components, resolved.ids)
    )
    if stray:
        raise UsageError(
            f"{', '.join(stray)} of {payload.environment.name} run an image that is not "
            f"{version} as the registry serves it: nothing is promoted (deploy it there again "
            "first)"
        )


def promotion_pick(
    inventory: Inventory,
    environment: Environment,
    seams: DeploySeams,
    surveyed: Callable[[Environment], Survey],
    version: str | None,
    service: str | None = None,
) -> str:
    """The version (or set) ``promote --to environment [--version V] [--service S]`` takes.

    UsageError naming why there is none: no ``from``, hosts that disagree or fail their
    check now, a version that failed upstream or was never proven there, services the
    upstream environment does not run.
    """
    if environment.upstream is None:
        raise UsageError(
            f"environment {environment.name} has no 'from' to promote from; deploy it with "
            f"invoke deploy --env {environment.name}"
        )
    upstream = inventory.environment(environment.upstream)
    payload = payload_of(inventory, upstream)
    _refuse_partial_version(payload, version, service)
    state = surveyed(upstream)
    try:
        healthy = health_now(payload, state) if version is None else {}
        picked = promotion_candidate(
            upstream.name, state.states, payload.components, healthy, version,
            seams.ledger.failed(upstream.name),
        )  # fmt: skip
        if version is None:
            refuse_stray_images(payload, state, seams.index, picked)
    finally:
        state.close()
    target = payload_of(inventory, environment)
    carried = _carried(payload, target, picked)
    if service is None:
        return carried
    return _one_service(inventory, environment, target, surveyed, carried, service)


def _refuse_partial_version(upstream: Payload, version: str | None, service: str | None) -> None:
    """UsageError for a ``--version`` that is not a whole set of upstream's services.

    An older set is named whole; ``--service`` carries what upstream runs now.
    """
    if version is None or len(upstream.services) == 1:
        return
    if service is not None:
        raise UsageError(
            "--service carries the version upstream runs now; an older one is promoted as a "
            "whole set with --version"
        )
    if set_versions(version, upstream.names) is None:
        example = set_text({name: "VERSION" for name in upstream.names})
        raise UsageError(
            f"--version {version[:200]!r} is not a version of each of "
            f"{upstream.environment.name}'s services: write it as {example!r}"
        )


def _carried(upstream: Payload, target: Payload, picked: str) -> str:
    """What of ``picked`` (upstream's version or set) the target's services take."""
    versions = set_versions(picked, upstream.names)
    if versions is None or upstream.names == target.names:
        return picked
    missing = [name for name in target.names if name not in versions]
    if missing:
        raise UsageError(
            f"{upstream.environment.name} does not run {', '.join(missing)}, which "
            f"{target.environment.name} runs: a promotion carries what upstream proved"
        )
    return set_text({name: versions[name] for name in target.names})


def _one_service(
    inventory: Inventory,
    environment: Environment,
    target: Payload,
    surveyed: Callable[[Environment], Survey],
    carried: str,
    service: str,
) -> str:
    """The set the target runs, with ``service`` at the version ``carried`` gives it."""
    if service not in target.names:
        raise UsageError(
            f"environment {environment.name} has no service {service!r} (it runs "
            f"{', '.join(target.names)})"
        )
    if len(target.names) == 1:
        return carried
    state = surveyed(environment)
    try:
        running = common_version(state.states, target.components)
    finally:
        state.close()
    base = set_versions(running, target.names) if running is not None else None
    if base is None:
        raise UsageError(
            f"{environment.name} does not run one set of versions on every host: promote "
            "the whole set (without --service) or deploy it first"
        )
    wanted = set_versions(carried, target.names) or {}
    return set_text(base | {service: wanted[service]})
