"""The release's handlers as the executor sees them: each operation to its family's handler.

:class:`ReleaseHandlers` looks an operation's handler up by its class in the families'
tables (:data:`FAMILIES`); it also says each span, stops the machines, and cleans up
with signals held back: destroy whatever is left and say what is still alive, commit or
discard the tree's working copy, wipe the keyring, release the locks.
"""

from __future__ import annotations

from orchestrator.engine.executor import Directive, Span
from orchestrator.engine.operations import Operation
from orchestrator.engine.waiting import SlowSteps
from orchestrator.release.handlers import build, images, publish, pyindex, repo, workspace
from orchestrator.release.handlers.context import ReleaseContext
from orchestrator.release.handlers.family import merged
from orchestrator.release.plan import MachineProgram

# Every family of release operations; each operation class has one handler among them.
FAMILIES = (
    workspace.FAMILY,
    repo.FAMILY,
    build.FAMILY,
    images.FAMILY,
    publish.FAMILY,
    pyindex.FAMILY,
)
RUN_WIDE, IN_PROGRAM = merged(FAMILIES)


class ReleaseHandlers:
    """What each operation of a release does: its family's handler, over one context."""

    def __init__(self, context: ReleaseContext) -> None:
        self.context = context
        # Run-wide operations are said as they start or end; a long one, while it runs.
        self._slow = SlowSteps(context.say)

    def handle(self, operation: Operation, target: MachineProgram | None) -> Directive:
        """Carry ``operation`` out (for ``target``'s program, or run-wide)."""
        if target is not None:
            # The executor starts nothing but cleanups once the run is stopping.
            in_program = IN_PROGRAM.get(type(operation))
            if in_program is None:
                raise TypeError(f"no handler for {operation.kind}")
            in_program(operation, self.context, target)
            return None
        run_wide = RUN_WIDE.get(type(operation))
        if run_wide is None:
            raise TypeError(f"no handler for {operation.kind}")
        return run_wide(operation, self.context)

    def stop(self) -> None:
        """Hang every session up and stop waiting for machines."""
        self.context.machines.stop()

    def on_span(self, span: Span) -> None:
        """Journal the operation; show a target's progress, and a long run-wide operation."""
        self.context.journal.operation(span)
        if span.program is not None:
            if span.status == "running":
                self.context.progress.update(span.program, span.name)
        elif span.status == "running":
            self._slow.started(span.where, span.name)
        else:
            self._slow.ended(span.where, span.name)

    def cleanup(self) -> str:
        """Destroy what is left, commit or discard the tree copy, wipe the key, unlock."""
        self._slow.close()
        context, done = self.context, []
        # Each step runs whatever the one before it raised: a tree that cannot be settled
        # still lets the droplets go first and the key and the lock go after.
        try:
            released = context.machines.release_all(context.plan.cleanup_timeout)
            if released is not None:
                context.released = released
                if released.alive:
                    done.append(f"still alive: {', '.join(released.alive)}")
                else:
                    done.append("no droplet left")
        finally:
            try:
                settled = repo.settle_tree(context)
                if settled is not None:
                    done.append(settled)
            finally:
                context.resources.close()
        return "; ".join(done) or "nothing to clean up"
