"""Promotion, rollback and the deploys a release triggers, each as a deploy with its rules."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.deploy.environments import Environment
from orchestrator.deploy.promotion import (
    promotion_candidate,
    refuse_never_deployed,
    rollback_target,
)
from orchestrator.deploy.rollout import Audit
from orchestrator.deploy.run import DeployOutcome, DeployRequest, DeploySeams, run_deploy
from orchestrator.deploy.semver import parse_range
from orchestrator.deploy.status import health_now
from orchestrator.deploy.survey import Survey, surveyor
from orchestrator.errors import UsageError
from orchestrator.executor import Deferral
from orchestrator.inventory import Inventory

Say = Callable[[str], None]


def promote(
    inventory: Inventory,
    to: str,
    seams: DeploySeams,
    *,
    version: str | None,
    audit: Audit,
    lock_wait: float,
    dry_run: bool,
    say: Say,
    signals: Deferral | None = None,
) -> DeployOutcome:
    """Deploy to ``to`` what its ``from`` environment runs healthy (or ``version``, proven there)."""
    environment = inventory.environment(to)
    if environment.upstream is None:
        raise UsageError(
            f"environment {to} has no 'from' to promote from; deploy it with invoke deploy --env {to}"
        )
    upstream = inventory.environment(environment.upstream)
    state = surveyor(inventory, seams)(upstream)
    try:
        components = inventory.payload(upstream).components
        healthy = health_now(upstream, state, components) if version is None else {}
        picked = promotion_candidate(upstream.name, state.states, components, healthy, version)
        if version is None:
            _refuse_stray_images(upstream, state, components, seams, picked)
    finally:
        state.close()
    say(f"promoting {picked} from {upstream.name} to {to}")
    request = DeployRequest(
        to, picked, "promote", audit, lock_wait, dry_run, allow_older=version is not None
    )
    return run_deploy(inventory, request, seams, say=say, signals=signals)


def _refuse_stray_images(
    upstream: Environment, state: Survey, components: tuple[str, ...], seams: DeploySeams,
    version: str,
) -> None:  # fmt: skip
    """UsageError when a Compose host upstream runs another image than the registry's ``version``.

    What it proved healthy is then not what the registry would give the next environment.
    """
    if upstream.compose is None:
        return
    served = seams.image(upstream, version)
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


def rollback(
    inventory: Inventory,
    environment: str,
    seams: DeploySeams,
    *,
    to: str | None,
    audit: Audit,
    lock_wait: float,
    dry_run: bool,
    say: Say,
    signals: Deferral | None = None,
) -> DeployOutcome:
    """Put ``environment`` back on the version it ran before (or ``to``), with every check."""
    components = inventory.payload(inventory.environment(environment)).components
    request = DeployRequest(environment, to, "rollback", audit, lock_wait, dry_run)

    def chosen(state: Survey) -> str | None:
        if to:
            refuse_never_deployed(environment, state.states, components)
            return to
        return rollback_target(environment, state.states, components)

    return run_deploy(inventory, request, seams, say=say, signals=signals, chosen=chosen)


def auto_environments(inventory: Inventory, version: str) -> list[Environment]:
    """The ``auto`` environments whose version accepts ``version`` (a new release)."""
    return [
        e
        for e in inventory.environments
        if e.auto and parse_range(e.version, prereleases=e.prereleases).accepts(version)
    ]
