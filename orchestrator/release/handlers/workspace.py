"""The release's hold on its workspace: one release at a time runs in it.

``lock`` takes the workspace's release lock (an atomic ``mkdir`` with a details file, see
:mod:`orchestrator.engine.locks`) and holds it to the end of the run, cleanup included.
"""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.engine.locks import holding_directory_lock, new_details
from orchestrator.errors import LockError
from orchestrator.release.handlers.context import ReleaseContext
from orchestrator.release.handlers.family import Family
from orchestrator.release.operations import TakeReleaseLock

FAMILY = Family("workspace")


@FAMILY.run_wide(TakeReleaseLock)
def take_release_lock(operation: TakeReleaseLock, context: ReleaseContext) -> None:
    """Wait for the release lock, then hold it until the context's resources close."""
    plan, workspace = context.plan, context.paths.workspace
    details = new_details(plan.run_id, plan.tag, datetime.now(UTC))
    context.resources.enter_context(
        holding_directory_lock(
            workspace / operation.path,
            details,
            where=f"the workspace {workspace}",
            force="invoke unlock --force",
            wait=operation.timeout,
            say=context.say,
            error=LockError,
        )
    )
