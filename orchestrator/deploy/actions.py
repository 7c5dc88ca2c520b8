"""Promotion, rollback and the deploys a release triggers, each as a deploy with its rules."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.config.environments import Environment
from orchestrator.config.inventory import Inventory
from orchestrator.deploy.candidate import promotion_pick
from orchestrator.deploy.payload import payload_of
from orchestrator.deploy.promotion import refuse_never_deployed, rollback_target
from orchestrator.deploy.records import Audit
from orchestrator.deploy.run import DeployOutcome, DeployRequest, run_deploy
from orchestrator.deploy.seams import DeploySeams
from orchestrator.deploy.survey import Survey, Surveys
from orchestrator.engine.executor import Deferral
from orchestrator.semver import parse_range

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
    surveys = Surveys(inventory, seams)
    try:
        picked = promotion_pick(inventory, environment, seams, surveys, version)
    finally:
        surveys.close()
    say(f"promoting {picked} from {environment.upstream} to {to}")
    request = DeployRequest(
        to, picked, "promote", audit, lock_wait, dry_run, allow_older=version is not None
    )
    return run_deploy(inventory, request, seams, say=say, signals=signals)


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
    components = payload_of(inventory, inventory.environment(environment)).components
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
