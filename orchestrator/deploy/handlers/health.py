"""A service's health check of a host, tried until it passes or its attempts run out.

``health`` checks a service at the version being deployed: a failure is the deploy's. A
revert checks each service at the version a host went back to with :func:`run_check`
too, and its failure says that version is unhealthy, not that the one being deployed
failed. A host's recorded health is every service's, each said by name.
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
    """Check that the host runs the service at its deployed version healthy.

    A failure is the deploy's.
    """
    run_check(context, operation, operation.version or context.plan.version)


def run_check(
    context: DeployContext, operation: CheckHealth, version: str, *, reverting: bool = False
) -> None:
    """Run a service's health check; a failure is the deploy's, unless a revert's check.

    A revert is not cut short by the stop that started it (it runs with signals
    deferred), and its failure says the old version is unhealthy: not that the version
    being deployed failed.
    """
    payload = context.payload
    service = payload.service(operation.service) if operation.service else payload.services[0]
    health = service.health
    if health is None:
        return
    name = context.environment_name
    program = next(p for p in context.plan.hosts if p.name == operation.host)
    variables = health_variables(program.name, program.address, version, name)
    where = (
        f"environments.{name}.health"
        if len(payload.services) == 1
        else f"environments.{name}.services.{service.name}.health"
    )
    result = check_health(
        health, variables, context.shell(operation.host), where,
        threading.Event() if reverting else context.stopping,
    )  # fmt: skip
    if not result.passed and not reverting and context.stopping.is_set():
        # The stop cut the check short (its wait, or its connection): that says nothing
        # of the version, which stays eligible.
        raise DeployError(f"{operation.host}: the health check was interrupted")
    said = "passed" if result.passed else f"failed: {result.output}"
    with context.guard:
        checked = context.service_health.setdefault(operation.host, {})
        checked[service.name] = said
        context.health[operation.host] = _summary(checked, len(payload.services))
    if not result.passed:
        what = "health check" if len(payload.services) == 1 else f"{service.name}'s health check"
        message = (
            f"{what} failed after {result.attempts} attempts "
            f"({operation.check}); last: {result.output}"
        )
        if reverting:
            raise DeployError(f"{operation.host}: {message}")
        raise context.failed(operation.host, message)


def _summary(checked: dict[str, str], services: int) -> str:
    """A host's health: "passed" once every check passed, else each service's by name."""
    if services == 1 or all(result == "passed" for result in checked.values()):
        return next(iter(checked.values())) if services == 1 else "passed"
    return "; ".join(f"{name}: {result}" for name, result in checked.items())


HANDLERS: Handlers = {CheckHealth: health_check}
