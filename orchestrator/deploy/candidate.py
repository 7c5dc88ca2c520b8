"""What a promotion takes from its upstream environment: ``promote`` and ``env.status`` alike.

The version the upstream environment (``from``) runs on every host, healthy now (its
check is run) and as their records account for it, not failed there (as the hosts'
records or the deploy ledger say); a Compose environment's hosts must run the very image
the registry serves under that tag. ``--version`` takes an older one it proved instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from orchestrator.config.environments import Environment, health_variables
from orchestrator.config.inventory import Inventory
from orchestrator.deploy.health import check_health
from orchestrator.deploy.payload import payload_of
from orchestrator.deploy.promotion import promotion_candidate
from orchestrator.deploy.seams import DeploySeams, ReleaseIndex
from orchestrator.deploy.survey import Survey
from orchestrator.errors import UsageError


def health_now(
    environment: Environment, state: Survey, components: tuple[str, ...]
) -> dict[str, str]:
    """Each host's health check, run now on every host at once: "passed", or what it saw."""
    health = environment.health
    if health is None:
        return {name: "passed" for name in state.states}
    once = health.model_copy(update={"attempts": 1})

    def check(name: str) -> str:
        version = state.states[name].version(components) or ""
        variables = health_variables(name, state.addresses[name], version, environment.name)
        # The check's text: the version the host runs, so a stale one does not pass.
        result = check_health(
            once, variables, state.shells[name], f"environments.{environment.name}.health",
            threading.Event(),
        )  # fmt: skip
        return "passed" if result.passed else f"failed: {result.output}"

    with ThreadPoolExecutor(max_workers=max(1, min(32, len(state.states)))) as pool:
        return dict(zip(state.states, pool.map(check, state.states), strict=True))


def refuse_stray_images(
    upstream: Environment, state: Survey, components: tuple[str, ...], index: ReleaseIndex,
    version: str,
) -> None:  # fmt: skip
    """UsageError when a Compose host upstream runs another image than the registry's ``version``.

    What it proved healthy is then not what the registry would give the next environment.
    """
    if upstream.compose is None:
        return
    served = index.image(upstream, version)
    platform = f"linux/{upstream.arch}"
    image = served.image_for(platform) if served is not None else None
    if image is None:
        raise UsageError(
            f"the registry no longer serves {version} for {platform}: nothing is promoted"
        )
    stray = sorted(
        name for name, host in state.states.items() if host.stray_images(components, image.ids)
    )
    if stray:
        raise UsageError(
            f"{', '.join(stray)} of {upstream.name} run an image that is not {version} as the "
            "registry serves it: nothing is promoted (deploy it there again first)"
        )


def promotion_pick(
    inventory: Inventory,
    environment: Environment,
    seams: DeploySeams,
    surveyed: Callable[[Environment], Survey],
    version: str | None,
) -> str:
    """The version ``promote --to environment [--version version]`` takes from upstream.

    UsageError naming why there is none: no ``from``, hosts that disagree or fail their
    check now, a version that failed upstream or was never proven there.
    """
    if environment.upstream is None:
        raise UsageError(
            f"environment {environment.name} has no 'from' to promote from; deploy it with "
            f"invoke deploy --env {environment.name}"
        )
    upstream = inventory.environment(environment.upstream)
    state = surveyed(upstream)
    try:
        components = payload_of(inventory, upstream).components
        healthy = health_now(upstream, state, components) if version is None else {}
        picked = promotion_candidate(
            upstream.name, state.states, components, healthy, version,
            seams.ledger.failed(upstream.name),
        )  # fmt: skip
        if version is None:
            refuse_stray_images(upstream, state, components, seams.index, picked)
    finally:
        state.close()
    return picked
