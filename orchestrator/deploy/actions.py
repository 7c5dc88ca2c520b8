"""Promotion, rollback and the deploys a release triggers, each as a deploy with its rules."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.config.environments import Environment
from orchestrator.config.inventory import Inventory
from orchestrator.deploy.candidate import promotion_pick
from orchestrator.deploy.payload import payload_of
from orchestrator.deploy.promotion import refuse_never_deployed, rollback_target
from orchestrator.deploy.records import Audit
from orchestrator.deploy.request import DeployRequest
from orchestrator.deploy.run import DeployOutcome, run_deploy
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
    service: str | None = None,
) -> DeployOutcome:
    """Deploy to ``to`` what its ``from`` environment runs healthy (or ``version``, proven there).

    With ``service``, only that service's version is carried; the others stay as they run.
    """
    environment = inventory.environment(to)
    surveys = Surveys(inventory, seams)
    try:
        picked = promotion_pick(inventory, environment, seams, surveys, version, service)
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


def auto_environments(inventory: Inventory, version: str, channel: str) -> list[Environment]:
    """The ``auto`` environments a new release ``version`` (published to ``channel``) goes to.

    Those whose version accepts it (of one of the project's own services, for an
    environment of several: its third parties' follow their own ranges), and, for one
    that installs packages, that installs from that channel: a nightly goes to the
    environments that take nightlies (``prereleases: true`` and channel ``nightly``).
    """
    return [
        e for e in inventory.environments if e.auto and _accepts(inventory, e, version, channel)
    ]


def _accepts(inventory: Inventory, environment: Environment, version: str, channel: str) -> bool:
    """Whether a service of the project's in ``environment`` takes the release ``version``."""
    if environment.compose is None and channel not in environment.channels:
        return False
    services = payload_of(inventory, environment).services
    return any(
        parse_range(s.version, prereleases=s.prereleases).accepts(version)
        for s in services
        if s.ours
    )
