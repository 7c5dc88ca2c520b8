"""The executor: runs a plan's operations, and is the one place that decides how.

It walks a plan in order: the run-wide operations before, the programs batch by batch
(every program of a batch at once, one thread each: a release's targets are one batch, a
deploy's hosts as many as its rollout takes), the run-wide operations after.
Each operation is journaled as it starts and as it ends, with its span for the report's
timeline. What an operation does is its handler's business (the release's handlers are in
:mod:`orchestrator.release.handlers`); when it runs, and what happens around a failure, is
decided here:

- An operation failing ends its program, but the program's ``cleanup`` operations still
  run (a droplet is destroyed after any failure). With ``fail_fast`` a failed target
  stops the others: the handler hangs their sessions up.
- Run-wide, a failure ends the sequence, except that every publish target is tried, and
  a verification or a hook that fails is reported without ending anything.
- A handler may end the run early (``EndRun``: nothing to do), skip the builds
  (``SkipBuilds``: their packages are already in the local tree) or leave one program's
  host as it is (``SkipProgram``: it runs the version already).
- When a program fails, no later batch starts. Every program that ran (touched its host)
  then runs its revert operations from the plan's ``reverts``, and the ``after``
  operations marked ``cleanup`` run, however the run ended: a deploy puts every host back
  and records what happened.
- Whatever happened, :meth:`Executor.run` ends with the handler's cleanup, with signals
  deferred until it is done: an interrupt never cuts a cleanup short.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

from orchestrator.engine.interrupts import Interrupted
from orchestrator.engine.operations import Operation
from orchestrator.errors import Cancelled, OrchestratorError

SpanStatus = Literal["running", "done", "failed", "cancelled", "interrupted"]
ProgramStatus = Literal["succeeded", "failed", "cancelled", "reused", "unchanged"]


@dataclass(frozen=True)
class Span:
    """An operation the executor ran: when, how it ended, and what it said."""

    program: str | None  # the target's name; None for run-wide operations
    name: str
    kind: str
    where: str
    started: float  # epoch seconds
    ended: float
    status: SpanStatus
    detail: str = ""


@dataclass(frozen=True)
class EndRun:
    """A handler's answer: the run has nothing (more) to do; ``status`` says why."""

    status: str
    message: str


@dataclass(frozen=True)
class SkipBuilds:
    """A handler's answer: no target needs to build (``message`` says why)."""

    message: str


@dataclass(frozen=True)
class SkipProgram:
    """A handler's answer: this program's host needs nothing (``message`` says why)."""

    message: str


Directive = EndRun | SkipBuilds | SkipProgram | None


class ProgramPlan(Protocol):
    """One program of a plan: a target's build, a host's deploy."""

    @property
    def name(self) -> str:
        """The program's name (the target's, the host's)."""

    @property
    def operations(self) -> tuple[Operation, ...]:
        """Its operations, in order."""


P = TypeVar("P", bound=ProgramPlan)
P_co = TypeVar("P_co", bound=ProgramPlan, covariant=True)
P_contra = TypeVar("P_contra", bound=ProgramPlan, contravariant=True)


class RunPlan(Protocol[P_co]):
    """What the executor runs: run-wide operations around batches of programs."""

    @property
    def before(self) -> tuple[Operation, ...]:
        """Run-wide operations before the programs."""

    @property
    def batches(self) -> Sequence[Sequence[P_co]]:
        """The programs, batch after batch; a batch's programs run at once."""

    @property
    def reverts(self) -> Mapping[str, tuple[Operation, ...]]:
        """Per program, what undoes it when the run fails (empty for a release)."""

    @property
    def after(self) -> tuple[Operation, ...]:
        """Run-wide operations after the programs."""

    @property
    def batch_wait(self) -> float:
        """Seconds between batches."""

    @property
    def fail_fast(self) -> bool:
        """Whether one failed program stops the others."""


@dataclass
class Program:
    """How one target's program went."""

    name: str
    status: ProgramStatus = "cancelled"
    error: str | None = None
    spans: list[Span] = field(default_factory=list)


@dataclass
class Outcome:
    """How the run went: the run-wide spans, each target's program, and how it ended."""

    spans: list[Span] = field(default_factory=list)
    programs: dict[str, Program] = field(default_factory=dict)
    ended: EndRun | None = None
    skipped: SkipBuilds | None = None
    failures: list[str] = field(default_factory=list)
    # Run-wide operations that failed without ending the run (a hook, a verification).
    warnings: list[str] = field(default_factory=list)
    # The signal that ended the run, if one did.
    interrupted: Interrupted | None = None
    # What the cleanup did, in words.
    cleaned: str = ""

    # The revert programs that ran, by the name of the program they undid.
    reverts: dict[str, Program] = field(default_factory=dict)

    @property
    def built(self) -> bool:
        """Whether every program succeeded (a target built or reused, a host unchanged)."""
        return bool(self.programs) and all(
            p.status in ("succeeded", "reused", "unchanged") for p in self.programs.values()
        )

    @property
    def touched(self) -> list[str]:
        """The programs that ran an operation on their host (not skipped or unchanged)."""
        return [
            p.name
            for p in self.programs.values()
            if p.spans and p.status not in ("unchanged", "reused")
        ]


class Handlers(Protocol[P_contra]):
    """What the operations of a plan do; the release's are in :mod:`orchestrator.release.handlers`."""

    def handle(self, operation: Operation, target: P_contra | None) -> Directive:
        """Carry ``operation`` out (for ``target``'s program, or run-wide); its directive."""

    def stop(self) -> None:
        """Stop every target at once (from any thread): hang up sessions, stop waiting."""

    def cleanup(self) -> str:
        """Let everything the run still holds go (machines, locks, keys); what it did."""

    def on_span(self, span: Span) -> None:
        """An operation started (status "running") or ended."""


class Deferral(Protocol):
    """Holds signals back for a while (see :class:`orchestrator.engine.interrupts.InterruptHandler`)."""

    def deferred(self) -> AbstractContextManager[None]:
        """While the block runs, signals are noted, not raised; raised after it."""


@dataclass
class Executor(Generic[P]):
    """Runs one plan with one set of handlers."""

    plan: RunPlan[P]
    handlers: Handlers[P]
    signals: Deferral | None = None
    clock: Callable[[], float] = time.time
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def stopping(self) -> bool:
        """Whether the run has been told to stop."""
        return self._stopping.is_set()

    def stop(self) -> None:
        """Stop the run: no new operation starts but cleanups; running targets are hung up."""
        self._stopping.set()
        self.handlers.stop()

    def run(self, reused: Collection[str] = ()) -> Outcome:
        """Run the plan; ``reused`` targets' artifacts come from an earlier run.

        A signal ends the walk: the targets stop, the cleanup runs, and the outcome says
        so (``interrupted``). Anything else unexpected goes on after the cleanup.
        """
        outcome = Outcome()
        try:
            self._walk(outcome, reused)
        except Interrupted as signal:
            outcome.interrupted = signal
            self.stop()
        except BaseException:
            self.stop()
            self._cleanup(outcome)
            raise
        self._cleanup(outcome)
        return outcome

    def _walk(self, outcome: Outcome, reused: Collection[str]) -> None:
        if not self._sequence(self.plan.before, outcome):
            return
        if outcome.ended is not None:
            return
        if outcome.skipped is None:
            self._batches(outcome, reused)
            if not outcome.built:
                return
        # The cleanup operations run in the cleanup, with signals deferred (see _undo).
        self._sequence([op for op in self.plan.after if not op.cleanup], outcome)

    def _sequence(self, operations: Sequence[Operation], outcome: Outcome) -> bool:
        """Run run-wide operations in order; False once one failed (its group aside)."""
        failed_group: type[Operation] | None = None
        for operation in operations:
            if failed_group is not None and not isinstance(operation, failed_group):
                return False
            try:
                directive = self._run(operation, None, outcome.spans)
            except OrchestratorError as error:
                if not operation.fatal:
                    outcome.warnings.append(str(error))
                    continue
                group = type(operation) if operation.grouped else None
                outcome.failures.append(str(error))
                if group is None:
                    return False
                failed_group = group
                continue
            if isinstance(directive, EndRun):
                outcome.ended = directive
                return True
            if isinstance(directive, SkipBuilds):
                outcome.skipped = directive
        return failed_group is None

    def _batches(self, outcome: Outcome, reused: Collection[str]) -> None:
        batches = self.plan.batches
        outcome.programs = {p.name: Program(p.name) for batch in batches for p in batch}
        for name in reused:
            if name in outcome.programs:
                outcome.programs[name].status = "reused"
        for number, batch in enumerate(batches):
            if number and self.plan.batch_wait and self._stopping.wait(self.plan.batch_wait):
                return
            if self.stopping:
                return
            self._batch([p for p in batch if p.name not in reused], outcome.programs, outcome)
            if any(outcome.programs[p.name].status in ("failed", "cancelled") for p in batch):
                return

    def _batch(self, programs: Sequence[P], states: dict[str, Program], outcome: Outcome) -> None:
        if not programs:
            return
        with ThreadPoolExecutor(max_workers=len(programs), thread_name_prefix="program") as pool:
            futures = []
            try:
                # A signal may arrive between two submissions: the ones running stop too.
                for program in programs:
                    futures.append(
                        pool.submit(self._program, program, states[program.name], outcome)
                    )
                for future in futures:
                    future.result()
            except BaseException:
                # An interrupt in this thread: the targets stop and run their cleanups,
                # which the pool's exit waits for.
                self.stop()
                raise

    def _program(
        self,
        target: P,
        program: Program,
        outcome: Outcome,
        operations: tuple[Operation, ...] | None = None,
    ) -> None:
        """Run ``target``'s operations (or ``operations`` in its name: its revert)."""
        skipped = False
        for operation in target.operations if operations is None else operations:
            if (program.error is not None or self.stopping) and not operation.cleanup:
                skipped = True
                continue
            try:
                if isinstance(self._run(operation, target, program.spans), SkipProgram):
                    program.status = "unchanged"
                    return
            except Exception as error:  # a target's failure never ends the other threads
                message = _described(target.name, error)
                if operations is not None:
                    # A revert that fails is the program's failure; it stops no other
                    # revert: each host goes back.
                    program.error, program.status = message, "failed"
                    continue
                if operation.cleanup:
                    # Its span says so, and the run's cleanup tries again; the program's
                    # own outcome stands.
                    with self._lock:
                        outcome.warnings.append(message)
                    continue
                program.error = message
                if isinstance(error, Cancelled) or self.stopping:
                    program.status = "cancelled"
                else:
                    program.status = "failed"
                    if self.plan.fail_fast:
                        self.stop()
        if program.error is None:
            if skipped:
                program.status = "cancelled"
                program.error = stopped(target.name)
            else:
                program.status = "succeeded"

    def _run(self, operation: Operation, target: P | None, spans: list[Span]) -> Directive:
        program = target.name if target is not None else None
        started = self.clock()
        self.handlers.on_span(
            Span(
                program,
                operation.name,
                operation.kind,
                operation.where,
                started,
                started,
                "running",
            )
        )
        status: SpanStatus = "failed"
        detail = ""
        try:
            directive = self.handlers.handle(operation, target)
            status = "done"
            if isinstance(directive, EndRun | SkipBuilds | SkipProgram):
                detail = directive.message
            return directive
        except Cancelled as error:
            status, detail = "cancelled", str(error)
            raise
        except OrchestratorError as error:
            detail = str(error)
            raise
        except Exception as error:
            detail = f"{error.__class__.__name__}: {error}"
            raise
        except BaseException as error:
            status, detail = "interrupted", str(error)
            raise
        finally:
            span = Span(
                program, operation.name, operation.kind, operation.where, started, self.clock(),
                status, detail,
            )  # fmt: skip
            with self._lock:
                spans.append(span)
            self.handlers.on_span(span)

    def _undo(self, outcome: Outcome) -> None:
        """Revert every program that touched its host, then the ``after`` cleanups not run."""
        reverts = self.plan.reverts
        if not outcome.built and reverts:
            touched = set(outcome.touched) & set(reverts)
            programs = [p for batch in self.plan.batches for p in batch if p.name in touched]
            outcome.reverts = {p.name: Program(p.name) for p in programs}
            if programs:
                with ThreadPoolExecutor(len(programs), thread_name_prefix="revert") as pool:
                    futures = [
                        pool.submit(
                            self._program, p, outcome.reverts[p.name], outcome, reverts[p.name]
                        )
                        for p in programs
                    ]
                    for future in futures:
                        future.result()
        if outcome.programs:
            for operation in [op for op in self.plan.after if op.cleanup]:
                try:
                    self._run(operation, None, outcome.spans)
                except OrchestratorError as error:
                    outcome.failures.append(str(error))

    def _cleanup(self, outcome: Outcome) -> None:
        started = self.clock()
        deferral = self.signals.deferred() if self.signals is not None else nullcontext()
        try:
            with deferral:
                self._undo(outcome)
                outcome.cleaned = self.handlers.cleanup()
        except Interrupted as signal:  # one that arrived during the cleanup, held back
            outcome.interrupted = outcome.interrupted or signal
        except Exception as error:
            # A cleanup that fails (a signer that cannot close after its rpmsign was
            # stopped) is the run's failure to report, not a traceback that hides how the
            # run ended: an interrupted run stays interrupted.
            outcome.failures.append(f"cleanup: {_described_error(error)}")
        span = Span(
            None, "cleanup", "cleanup", "orchestrator", started, self.clock(), "done",
            outcome.cleaned,
        )  # fmt: skip
        outcome.spans.append(span)
        self.handlers.on_span(span)


def stopped(target: str) -> str:
    """Why ``target`` did not finish when it was stopped from outside."""
    return f"{target}: stopped because another target failed or the run was interrupted"


def _described_error(error: Exception) -> str:
    if isinstance(error, OrchestratorError):
        return str(error)
    return f"{error.__class__.__name__}: {error}"


def _described(target: str, error: Exception) -> str:
    message = _described_error(error)
    return message if message.startswith(target) else f"{target}: {message}"


def spans_of(outcome: Outcome) -> Iterator[Span]:
    """Every span of the run, run-wide and targets', in the order they started."""
    everything = [*outcome.spans, *(s for p in outcome.programs.values() for s in p.spans)]
    yield from sorted(everything, key=lambda span: span.started)
