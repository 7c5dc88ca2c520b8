"""The deploy's handlers as the executor sees them: each operation to its family's handler.

:class:`DeployHandlers` looks an operation's handler up by its class in the families'
tables (:data:`FAMILIES`); it also keeps a host's first failure for the records, says
each host's steps as they end, hangs the hosts up when the deploy stops, and at the end
releases the lock and closes every shell.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.deploy.handlers import change, health, lock, record, revert
from orchestrator.deploy.handlers.context import DeployContext, Handler, Handlers
from orchestrator.deploy.plan import HostProgram
from orchestrator.engine.executor import Directive, Span
from orchestrator.engine.operations import HostOperation, Operation
from orchestrator.engine.waiting import SlowSteps
from orchestrator.errors import DeployError

# Every family of deploy operations; each operation class has one handler among them.
FAMILIES = (lock.HANDLERS, change.HANDLERS, health.HANDLERS, revert.HANDLERS, record.HANDLERS)
# The run-wide operations said as they end (the records are said by the outcome).
_SAID = ("lock", "sources")


def merged(families: Iterable[Handlers]) -> dict[type[Operation], Handler]:
    """Every family's handlers by operation class; TypeError if two claim one class."""
    handlers: dict[type[Operation], Handler] = {}
    for family in families:
        for kind, handler in family.items():
            if kind in handlers:
                raise TypeError(f"{kind.__name__} has two handlers")
            handlers[kind] = handler
    return handlers


HANDLERS = merged(FAMILIES)


class DeployHandlers:
    """What each operation of a deploy does: its family's handler, over one context."""

    def __init__(self, context: DeployContext) -> None:
        self.context = context
        # A long step is said while it runs.
        self._slow = SlowSteps(context.say)

    def handle(self, operation: Operation, target: HostProgram | None) -> Directive:
        """Carry ``operation`` out; the first host failure is kept for the records."""
        context = self.context
        try:
            handler = HANDLERS.get(type(operation))
            if handler is None:
                raise DeployError(f"no handler for {operation.kind}")
            return handler(operation, context, target)
        except Exception as error:
            if isinstance(operation, HostOperation) and not context.stopping.is_set():
                context.failed(operation.host, str(error).removeprefix(f"{operation.host}: "))
            raise

    def stop(self) -> None:
        """Hang every host up: running commands end, the reverts reconnect."""
        self.context.stopping.set()
        for shell in list(self.context.survey.shells.values()):
            shell.hang_up()

    def cleanup(self) -> str:
        """Release the lock (if this deploy holds it) and close every shell."""
        self._slow.close()
        released = lock.release_lock(self.context)
        self.context.survey.close()
        return released or "nothing held"

    def on_span(self, span: Span) -> None:
        """Say what each host does as it ends, and a long step while it runs."""
        if span.program is None and span.kind not in _SAID:
            return
        where = span.program or span.where
        if span.status == "running":
            self._slow.started(where, span.name)
            return
        self._slow.ended(where, span.name)
        detail = f": {span.detail}" if span.detail else ""
        self.context.say(
            f"{where}: {span.name} {span.status} ({span.ended - span.started:.1f}s){detail}"
        )
