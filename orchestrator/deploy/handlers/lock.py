"""The environment's deploy lock: taken on its first host before any host changes.

``lock`` waits for it (an atomic ``mkdir`` with a details file, see
:mod:`orchestrator.engine.locks`), then reads the hosts again: another deploy may have
finished while this one waited, and what runs now is what counts. The cleanup releases
it, with this deploy's token only.
"""

from __future__ import annotations

from orchestrator.commands import deploy as commands
from orchestrator.commands import locks as lockcommands
from orchestrator.deploy.handlers.context import DeployContext, Handlers
from orchestrator.deploy.operations import TakeDeployLock
from orchestrator.deploy.plan import CONTROL_TIMEOUT, HostProgram
from orchestrator.deploy.survey import reread
from orchestrator.engine.executor import EndRun
from orchestrator.engine.locks import LockDetails, LockWaiter
from orchestrator.errors import DeployError, LockError, UsageError


def take_lock(
    operation: TakeDeployLock, context: DeployContext, target: HostProgram | None
) -> EndRun | None:
    """Wait for the lock; end the run unchanged if the hosts, read again, moved past the version."""
    shell = context.shell(operation.host)
    env = context.environment_name

    def attempt() -> str | None:
        context.lock_tried = True
        result = shell.run(
            commands.take_lock(context.files, env, context.lock.render()), timeout=CONTROL_TIMEOUT
        )
        if result.status == 0:
            return None
        if result.status == lockcommands.HELD:
            return result.stdout
        raise DeployError(f"{shell.where}: cannot take the lock: {result.last_lines()}")

    def break_lock(holder: LockDetails) -> None:
        shell.run(commands.release_lock(context.files, env, holder.token), timeout=CONTROL_TIMEOUT)

    LockWaiter(
        f"environment {env} (lock on {operation.host})",
        f"invoke env.unlock --env {env} --force",
        attempt, break_lock, context.say,
    ).acquire(operation.timeout, LockError)  # fmt: skip
    # Another deploy may have finished while this one waited: what runs now counts.
    reread(context.survey, context.files, context.payload)
    try:
        moved = context.recheck(context.survey)
    except UsageError as error:
        # Refused before any host changed (an image's tag moved): bad input, not a failure.
        return EndRun("refused", str(error))
    return EndRun("unchanged", moved) if moved is not None else None


def release_lock(context: DeployContext) -> str | None:
    """Release the lock if this deploy may hold it; what came of it (None: never tried)."""
    if not context.lock_tried:
        return None
    env = context.environment_name
    first = context.plan.hosts[0].name if context.plan.hosts else ""
    command = commands.release_lock(context.files, env, context.lock.token)
    try:
        context.shell(first, fresh=context.stopping.is_set()).run(command, timeout=CONTROL_TIMEOUT)
    except Exception as error:  # a lost connection fails in any of paramiko's ways
        return (
            f"could not release the lock of {env} ({error}); it "
            f"stays: invoke env.unlock --env {env} --force"
        )
    return f"released the lock of {env} (if it was this deploy's)"


HANDLERS: Handlers = {TakeDeployLock: take_lock}
