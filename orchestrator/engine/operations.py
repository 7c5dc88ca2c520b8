"""What a plan is made of: operations, typed data that each say where they run; pure.

The executor (:mod:`orchestrator.engine.executor`) runs a plan's operations and nothing
else. A release's (:mod:`orchestrator.release.operations`) and a deploy's
(:mod:`orchestrator.deploy.operations`) are built on these: an operation says where it runs
(``where``), how long it may take (``timeout``, seconds), whether it runs even after a
failure or a signal (``cleanup``), and one line that describes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

ORCHESTRATOR = "orchestrator"


@dataclass(frozen=True)
class Operation:
    """One step of a plan: where it runs, how long it may take, whether it always runs."""

    kind: ClassVar[str] = "operation"
    # A failure of a non-fatal operation is reported and ends nothing (a verification).
    fatal: ClassVar[bool] = True
    # Consecutive operations of a grouped kind run as a group: a failure lets the rest of
    # the group run, then ends the sequence (one publish per target).
    grouped: ClassVar[bool] = False
    timeout: float = 0.0
    cleanup: bool = False

    @property
    def where(self) -> str:
        """Where the operation runs: the orchestrator, the cloud API, or a host's name."""
        return ORCHESTRATOR

    @property
    def name(self) -> str:
        """A short name for timelines and the journal."""
        return self.kind

    def describe(self) -> str:
        """One line saying what the operation does."""
        return self.kind


@dataclass(frozen=True)
class HostOperation(Operation):
    """An operation over SSH on the target's host, named ``host``."""

    host: str = ""

    @property
    def where(self) -> str:
        """The target's host."""
        return self.host


@dataclass(frozen=True)
class RemoteCommand(HostOperation):
    """A shell command on the target's host; ``logged`` output goes to the target's log."""

    kind: ClassVar[str] = "command"
    stage: str = ""
    command: str = ""
    logged: bool = False

    @property
    def name(self) -> str:
        """The command's stage: prepare, unpack, build, collect, cleanup."""
        return self.stage

    def describe(self) -> str:
        """One line."""
        return self.command


def operation_dict(operation: Operation) -> dict[str, Any]:
    """An operation as JSON: its kind, where it runs, its fields and its description."""
    return {
        "kind": operation.kind,
        "where": operation.where,
        **asdict(operation),
        "describe": operation.describe(),
    }
