"""What a deploy plan's operations do: the deploy's handlers for the executor.

The executor (:mod:`orchestrator.engine.executor`) decides the order, the batches, the reverts
and the cleanups; this module carries each operation out on the hosts, through the shells
the survey opened, and keeps what the records need: which hosts the deploy touched, what
each ran before, and the first failure in words.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.commands import deploy as commands
from orchestrator.commands import locks as lockcommands
from orchestrator.commands.deploy import HostFiles
from orchestrator.config.environments import Environment, health_variables
from orchestrator.deploy.health import check_health
from orchestrator.deploy.hosts import HostShell
from orchestrator.deploy.hoststate import shared_version
from orchestrator.deploy.ledger import FailureLedger
from orchestrator.deploy.operations import (
    CheckHealth,
    PrepareSources,
    RecordDeploy,
    Revert,
    TakeDeployLock,
)
from orchestrator.deploy.payload import Payload
from orchestrator.deploy.plan import (
    APT_UPDATE_TIMEOUT,
    CONTROL_TIMEOUT,
    DeployPlan,
    HostProgram,
)
from orchestrator.deploy.records import Record, Result
from orchestrator.deploy.survey import Connect, Survey, reread
from orchestrator.engine.executor import Directive, EndRun, SkipProgram, Span
from orchestrator.engine.locks import LockDetails, LockWaiter
from orchestrator.engine.operations import HostOperation, Operation, RemoteCommand
from orchestrator.engine.waiting import SlowSteps
from orchestrator.errors import DeployError, LockError
from orchestrator.publish.ledger import DeployFailure
from orchestrator.remote.fleet import HostAccess

Say = Callable[[str], None]
# The run-wide operations said as they end (the records are said by the outcome).
_SAID = ("lock", "sources")


@dataclass(frozen=True)
class Audit:
    """Who asked for the deploy, for the records."""

    by: str
    ci_job: str | None = None
    approved_by: str | None = None


@dataclass
class DeployHandlers:
    """Carries a deploy plan's operations out on the environment's hosts."""

    plan: DeployPlan
    payload: Payload
    # Checks, on the hosts as read under the lock, that the version chosen still holds:
    # DeployError if not, a reason when there is nothing left to do.
    recheck: Callable[[Survey], str | None]
    environment: Environment
    survey: Survey
    accesses: dict[str, HostAccess]
    connect: Connect
    files: HostFiles
    project_key: str
    audit: Audit
    lock: LockDetails
    say: Say
    now: Callable[[], datetime]
    # Where a failed version is also written, which the hosts cannot erase, and how long
    # to wait for its target's lock.
    ledger: FailureLedger
    ledger_wait: float
    # Each published release's installed version: where a host goes back to when no
    # record accounts for what it has installed.
    installed_of: Mapping[str, str] = field(default_factory=dict)
    # Hosts the deploy changed (or began to), and what each ran before it did.
    # Each touched host's components before the deploy: name -> version (absent: none).
    touched: dict[str, dict[str, str]] = field(default_factory=dict)
    # Hosts whose changing step finished: they ran the new version, until they went back.
    changed: set[str] = field(default_factory=set)
    # Touched hosts that ran a version no record accounted for: what it was.
    unaccounted: dict[str, str] = field(default_factory=dict)
    failure: str | None = None
    # The host of the first failure, and why the ledger could not take the failed version
    # (None: it did, or nothing failed).
    failed_host: str | None = None
    unledgered: str | None = None
    reverted: dict[str, str] = field(default_factory=dict)
    health: dict[str, str] = field(default_factory=dict)
    # Touched hosts whose record was written, and why the others' was not.
    recorded: set[str] = field(default_factory=set)
    unrecorded: dict[str, str] = field(default_factory=dict)
    # Set once the take command was sent: it may have succeeded even if its answer was
    # lost, and the release only removes a lock with this deploy's token.
    lock_tried: bool = False
    _stopping: threading.Event = field(default_factory=threading.Event)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _slow: SlowSteps = field(init=False)

    def __post_init__(self) -> None:
        self._slow = SlowSteps(self.say)

    @property
    def environment_name(self) -> str:
        """The environment deployed to."""
        return self.plan.environment

    # The executor's interface.

    @property
    def interrupted(self) -> bool:
        """Whether the deploy was stopped with no host failing: by a signal."""
        return self.failure is None and self._stopping.is_set()

    def handle(self, operation: Operation, target: HostProgram | None) -> Directive:
        """Carry ``operation`` out; the first host failure is kept for the records."""
        try:
            return self._handle(operation, target)
        except Exception as error:
            if isinstance(operation, HostOperation) and not self._stopping.is_set():
                self._failed(operation.host, str(error).removeprefix(f"{operation.host}: "))
            raise

    def _handle(self, operation: Operation, target: HostProgram | None) -> Directive:
        if isinstance(operation, TakeDeployLock):
            return self._take_lock(operation)
        if isinstance(operation, PrepareSources):
            self._prepare(operation)
        elif isinstance(operation, RemoteCommand):
            # A host program's first command is the one that changes the host.
            changes = target is not None and operation is target.operations[0]
            return self._command(operation, changes=changes)
        elif isinstance(operation, CheckHealth):
            self._check(operation, self.plan.version)
        elif isinstance(operation, Revert):
            self._revert(operation)
        elif isinstance(operation, RecordDeploy):
            self._record()
        else:
            raise DeployError(f"no handler for {operation.kind}")
        return None

    def stop(self) -> None:
        """Hang every host up: running commands end, the reverts reconnect."""
        self._stopping.set()
        for shell in list(self.survey.shells.values()):
            shell.hang_up()

    def cleanup(self) -> str:
        """Release the lock (if this deploy holds it) and close every shell."""
        self._slow.close()
        said = []
        if self.lock_tried:
            first = self.plan.hosts[0].name if self.plan.hosts else ""
            command = commands.release_lock(self.files, self.environment_name, self.lock.token)
            try:
                self._shell(first, fresh=self._stopping.is_set()).run(
                    command, timeout=CONTROL_TIMEOUT
                )
                said.append(
                    f"released the lock of {self.environment_name} (if it was this deploy's)"
                )
            except Exception as error:  # a lost connection fails in any of paramiko's ways
                said.append(
                    f"could not release the lock of {self.environment_name} ({error}); it "
                    f"stays: invoke env.unlock --env {self.environment_name} --force"
                )
        self.survey.close()
        return "; ".join(said) or "nothing held"

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
        self.say(f"{where}: {span.name} {span.status} ({span.ended - span.started:.1f}s){detail}")

    # Operations.

    def _shell(self, host: str, *, fresh: bool = False) -> HostShell:
        if fresh:
            with self._guard:
                old = self.survey.shells.get(host)
            if old is not None:
                old.close()
            shell = self.connect(self.accesses[host])
            with self._guard:
                self.survey.shells[host] = shell
            return shell
        return self.survey.shells[host]

    def _take_lock(self, operation: TakeDeployLock) -> EndRun | None:
        shell = self._shell(operation.host)
        env = self.environment_name

        def attempt() -> str | None:
            self.lock_tried = True
            result = shell.run(
                commands.take_lock(self.files, env, self.lock.render()), timeout=CONTROL_TIMEOUT
            )
            if result.status == 0:
                return None
            if result.status == lockcommands.HELD:
                return result.stdout
            raise DeployError(f"{shell.where}: cannot take the lock: {result.last_lines()}")

        def break_lock(holder: LockDetails) -> None:
            shell.run(commands.release_lock(self.files, env, holder.token), timeout=CONTROL_TIMEOUT)

        LockWaiter(
            f"environment {env} (lock on {operation.host})",
            f"invoke env.unlock --env {env} --force",
            attempt, break_lock, self.say,
        ).acquire(operation.timeout, LockError)  # fmt: skip
        # Another deploy may have finished while this one waited: what runs now counts.
        reread(self.survey, self.files, self.payload)
        moved = self.recheck(self.survey)
        return EndRun("unchanged", moved) if moved is not None else None

    def _needs(self, host: str) -> bool:
        """Whether ``host`` must be deployed: not at the version, or no record says it is."""
        # A host at the version with no record of it (a deploy killed before its record)
        # is deployed again: restarted, checked and recorded.
        plan = self.plan
        state = self.survey.states[host]
        return not state.settled(
            self.environment_name, plan.components, plan.units, plan.installed_version,
            plan.image_ids,
        )  # fmt: skip

    def _prepare(self, operation: PrepareSources) -> None:
        sources = commands.sources_file(
            self.plan.repository, self.plan.channels, self.files.keyring
        )
        stdin = f"{self.project_key.strip()}\n{commands.MARK}\n{sources}".encode()

        def prepare(host: str) -> None:
            shell = self._shell(host)
            for stage, command, stage_input, timeout in (
                ("source", operation.configure, stdin, CONTROL_TIMEOUT),
                ("update", operation.update, b"", APT_UPDATE_TIMEOUT),
            ):
                result = shell.run(command, timeout=timeout, stdin=stage_input)
                if result.status != 0:
                    raise DeployError(
                        f"{host}: {stage} failed (status {result.status}): {result.last_lines()}"
                    )

        hosts = [host for host in operation.hosts if self._needs(host)]
        with ThreadPoolExecutor(max_workers=max(1, min(32, len(hosts)))) as pool:
            futures = [pool.submit(prepare, host) for host in hosts]
        problems = [f.exception() for f in futures if f.exception() is not None]
        if problems:
            raise problems[0]  # type: ignore[misc]

    def _command(self, operation: RemoteCommand, *, changes: bool) -> Directive:
        host = operation.host
        if changes:
            if not self._needs(host):
                return SkipProgram(f"runs {self.plan.version} already")
            state = self.survey.states[host]
            back = state.restore_point(
                self.environment_name, self.plan.components, self.installed_of
            )
            with self._guard:
                if back is not None:
                    self.unaccounted[host] = state.version(self.plan.components) or "nothing"
                self.touched[host] = (
                    back
                    if back is not None
                    else {p: v for p, v in state.components.items() if p in self.plan.components}
                )
        result = self._shell(host).run(operation.command, timeout=operation.timeout)
        if result.status != 0:
            raise self._failed(
                host, f"{operation.stage} failed (status {result.status}): {result.last_lines()}"
            )
        if changes:
            with self._guard:
                self.changed.add(host)
        return None

    def _failed(self, host: str, message: str) -> DeployError:
        with self._guard:
            if self.failure is None:
                self.failure, self.failed_host = f"{host}: {message}", host
        return DeployError(f"{host}: {message}")

    def _check(self, operation: CheckHealth, version: str, *, reverting: bool = False) -> None:
        """Run the health check; a failure is the deploy's, unless this is a revert's check.

        A revert is not cut short by the stop that started it (it runs with signals
        deferred), and its failure says the old version is unhealthy: not that the version
        being deployed failed.
        """
        health = self.environment.health
        if health is None:
            return
        program = next(p for p in self.plan.hosts if p.name == operation.host)
        variables = health_variables(program.name, program.address, version, self.environment_name)
        result = check_health(
            health, variables, self._shell(operation.host),
            f"environments.{self.environment_name}.health",
            threading.Event() if reverting else self._stopping,
        )  # fmt: skip
        if not result.passed and not reverting and self._stopping.is_set():
            # The stop cut the check short (its wait, or its connection): that says nothing
            # of the version, which stays eligible.
            raise DeployError(f"{operation.host}: the health check was interrupted")
        with self._guard:
            self.health[operation.host] = "passed" if result.passed else f"failed: {result.output}"
        if not result.passed:
            message = (
                f"health check failed after {result.attempts} attempts "
                f"({operation.check}); last: {result.output}"
            )
            if reverting:
                raise DeployError(f"{operation.host}: {message}")
            raise self._failed(operation.host, message)

    def _revert(self, operation: Revert) -> None:
        host = operation.host
        before = self.touched.get(host, {})
        back = self.payload.previous_release(before)
        # Reconnect: the executor hung the hosts up if the deploy was stopped.
        shell = self._shell(host, fresh=True)
        for step in self.payload.revert(before):
            result = shell.run(step.command, timeout=step.timeout)
            if result.status != 0:
                previous = shared_version(before, self.payload.components)
                raise DeployError(
                    f"{host}: could not go back to {previous or 'nothing'}: {result.last_lines()}"
                )
        if back is not None and self.environment.health is not None:
            check = CheckHealth(
                host=host, check="the health check", attempts=self.environment.health.attempts
            )
            try:
                self._check(check, back, reverting=True)
            except DeployError as error:
                raise DeployError(f"{host}: back on {back}, but {error}") from None
        with self._guard:
            self.reverted[host] = back or "nothing"

    def left_on(self, host: str) -> str | None:
        """What a touched host runs after the deploy: None when it is not known."""
        if host in self.reverted:
            return self.reverted[host]
        if self.failure is None and not self.interrupted:
            return self.plan.version
        # It did not go back: the version came on unless its change never finished.
        return self.plan.version if host in self.changed else None

    def not_back(self) -> list[str]:
        """The touched hosts that should have gone back and did not (a failure, a signal)."""
        if self.failure is None and not self.interrupted:
            return []
        return [host for host in self.touched if host not in self.reverted]

    def _ledger_failure(self, stamp: str) -> None:
        """Write the failed version into the deploy ledger; say on one line if it could not."""
        host = self.failed_host or ""
        detail = (self.failure or "").removeprefix(f"{host}: ")
        entry = DeployFailure(self.plan.version, stamp, self.plan.run_id, host, detail)
        self.unledgered = self.ledger.record(
            self.environment_name, entry, lock_wait=self.ledger_wait, say=self.say
        )
        if self.unledgered is not None:
            self.say(f"{self.plan.version} is not in the deploy ledger: {self.unledgered}")

    def _record(self) -> None:
        result: Result = "deployed"
        failure = self.failure
        if failure is not None:
            result = "failed"
        elif self.interrupted:
            result, failure = "interrupted", "the deploy was interrupted"
        elif self.plan.action == "rollback":
            result = "rolled-back"
        stamp = self.now().strftime("%Y-%m-%dT%H:%M:%SZ")

        def write(host: str) -> None:
            record = self._record_of(host, result, failure, stamp)
            try:
                shell = self._shell(host, fresh=self._stopping.is_set())
                command = commands.append_record(self.files, record.to_line())
                # What the deploy kept to go back is dropped with its record, not before,
                # and kept where the host could not go back: it is what repairs it.
                forget = self.payload.forget()
                if forget is not None and (failure is None or host in self.reverted):
                    command = f"{command} && {forget}"
                done = shell.run(command, timeout=CONTROL_TIMEOUT)
                if done.status != 0:
                    raise DeployError(done.last_lines())
                with self._guard:
                    self.recorded.add(host)
            except Exception as error:  # one host's record must not keep the others'
                with self._guard:
                    self.unrecorded[host] = str(error).removeprefix(f"{host}: ")

        hosts = list(self.touched)
        with ThreadPoolExecutor(max_workers=max(1, min(32, len(hosts)))) as pool:
            list(pool.map(write, hosts))
        if result == "failed":
            self._ledger_failure(stamp)
        if self.unrecorded:
            problems = "; ".join(f"{h}: {why}" for h, why in sorted(self.unrecorded.items()))
            raise DeployError(f"could not append the deploy record on {problems}")

    def _record_of(self, host: str, result: Result, failure: str | None, stamp: str) -> Record:
        """The record of this deploy on ``host``, as it ended."""
        said = []
        if host in self.unaccounted:
            said.append(f"it ran {self.unaccounted[host]} with no record of it")
        if failure is not None:
            back = self.reverted.get(host)
            said += [
                failure,
                f"this host went back to {back}" if back else "this host could not go back",
            ]
        return Record(
            time=stamp,
            run_id=self.plan.run_id,
            environment=self.environment_name,
            host=host,
            action=self.plan.action,
            version=self.plan.version,
            previous=self.payload.previous_release(self.touched[host]),
            result=result,
            by=self.audit.by,
            ci_job=self.audit.ci_job,
            approved_by=self.audit.approved_by,
            health=self.health.get(host, "")[:500],
            detail="; ".join(said)[:500],
        )
