"""A touched host going back to what it ran before the deploy, and checked there.

What it goes back to was kept as its first step began
(:mod:`orchestrator.deploy.handlers.change`): what it ran, or, where no record accounted
for that, the version its last record left. The host is reconnected first: the
executor hung every host up if the deploy was stopped.
"""

from __future__ import annotations

from orchestrator.deploy.handlers.context import DeployContext, Handlers
from orchestrator.deploy.handlers.health import run_check
from orchestrator.deploy.hoststate import shared_version
from orchestrator.deploy.operations import CheckHealth, Revert
from orchestrator.deploy.plan import HostProgram
from orchestrator.deploy.sets import set_versions
from orchestrator.errors import DeployError


def revert(operation: Revert, context: DeployContext, target: HostProgram | None) -> None:
    """Put the host back on its release before the deploy (or nothing), then check it."""
    host = operation.host
    payload = context.payload
    before = context.touched.get(host, {})
    back = payload.previous_release(before)
    # Reconnect: the executor hung the hosts up if the deploy was stopped.
    shell = context.shell(host, fresh=True)
    for step in payload.revert(before):
        result = shell.run(step.command, timeout=step.timeout)
        if result.status != 0:
            previous = shared_version(before, payload.components)
            raise DeployError(
                f"{host}: could not go back to {previous or 'nothing'}: {result.last_lines()}"
            )
    versions = set_versions(back, payload.names) if back is not None else None
    for service in payload.services:
        if versions is None or service.health is None:
            continue
        check = CheckHealth(
            host=host, check="the health check", attempts=service.health.attempts,
            service=service.name,
        )  # fmt: skip
        try:
            run_check(context, check, versions[service.name], reverting=True)
        except DeployError as error:
            raise DeployError(f"{host}: back on {back}, but {error}") from None
    with context.guard:
        context.reverted[host] = back or "nothing"


HANDLERS: Handlers = {Revert: revert}
