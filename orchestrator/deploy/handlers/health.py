"""A host's health check, tried until it passes or its attempts run out.

``health`` checks the version being deployed: a failure is the deploy's. A revert checks
the version a host went back to with :func:`run_check` too, and its failure says that
version is unhealthy, not that the one being deployed failed.
"""

from __future__ import annotations

import threading

from orchestrator.config.environments import health_variables
from orchestrator.deploy.handlers.context import DeployContext, Handlers
from orchestrator.deploy.health import check_health
from orchestrator.deploy.operations import CheckHealth
from orchestrator.deploy.plan import HostProgram
from orchestrator.errors import DeployError


def health_check(
    operation: CheckHealth, context: DeployContext, target: HostProgram | None
) -> None:
    """Check that the host runs the deployed version healthy; a failure is the deploy's."""
    run_check(context, operation, context.plan.version)


def run_check(
    context: DeployContext, operation: CheckHealth, version: str, *, reverting: bool = False
) -> None:
    """Run the health check; a failure is the deploy's, unless this is a revert's check.

    A revert is not cut short by the stop that started it (it runs with signals
    deferred), and its failure says the old version is unhealthy: not that the version
    being deployed failed.
    """
    health = context.environment.health
    if health is None:
        return
    name = context.environment_name
    program = next(p for p in context.plan.hosts if p.name == operation.host)
    variables = health_variables(program.name, program.address, version, name)
    result = check_health(
        health, variables, context.shell(operation.host), f"environments.{name}.health",
        threading.Event() if reverting else context.stopping,
    )  # fmt: skip
    if not result.passed and not reverting and context.stopping.is_set():
        # The stop cut the check short (its wait, or its connection): that says nothing
        # of the version, which stays eligible.
        raise DeployError(f"{operation.host}: the health check was interrupted")
    with context.guard:
        context.health[operation.host] = "passed" if result.passed else f"failed: {result.output}"
    if not result.passed:
        message = (
            f"health check failed after {result.attempts} attempts "
            f"({operation.check}); last: {result.output}"
        )
        if reverting:
            raise DeployError(f"{operation.host}: {message}")
        raise context.failed(operation.host, message)


HANDLERS: Handlers = {CheckHealth: health_check}
