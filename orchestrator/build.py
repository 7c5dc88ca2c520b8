"""The build stage: every target on its own machine at once, artifacts verified locally.

Each target runs its own lifecycle in a thread: get a machine (create a droplet, or
connect to a static host with its pinned key), upload the source archive, unpack, build
with the target's timeout while the output streams to ``logs/<run-id>/<target>.log``,
checksum and bundle the artifacts on the host, pull the bundle back, verify it, and
destroy the droplet at once, so no droplet idles waiting for the others.

When a target fails and ``fail_fast`` is on, the others are stopped: their connections
are closed (which hangs up their remote builds) and their droplets destroyed.
"""

from __future__ import annotations

import codecs
import contextlib
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fabric import Connection

from orchestrator import commands, sshexec
from orchestrator.artifacts import Artifact, verify_artifacts
from orchestrator.cloud.droplets import RunDroplets
from orchestrator.errors import BuildError, Cancelled, OrchestratorError
from orchestrator.fleet import HostAccess, wait_for_ssh
from orchestrator.plan import Plan, Step, TargetPlan
from orchestrator.progress import Progress

TAIL_LINES = 20
# A line longer than this is kept in the tail by its end only.
TAIL_LINE_CHARS = 1000
SSH_DEADLINE_SECONDS = 60.0
STEP_TIMEOUT_SECONDS = 600.0
# The bundle's download may take this long plus a second per MiB of its size limit.
TRANSFER_BYTES_PER_SECOND = 1 << 20

Status = Literal["succeeded", "failed", "cancelled"]


@dataclass
class TargetResult:
    """How one target's build ended, with its artifacts, timings and log."""

    name: str
    status: Status = "cancelled"
    artifacts: tuple[Artifact, ...] = ()
    error: str | None = None
    log_path: Path | None = None
    log_tail: tuple[str, ...] = ()
    # Stage name -> (start, end) in epoch seconds: provision, build, collect.
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)
    machine_seconds: float = 0.0
    price_hourly: float = 0.0

    @property
    def seconds(self) -> float:
        """Wall time from the first stage's start to the last stage's end."""
        if not self.spans:
            return 0.0
        return max(end for _, end in self.spans.values()) - min(s for s, _ in self.spans.values())


class LogStream:
    """A sink for remote output: the log file (up to a size) and the last lines in memory.

    Each chunk costs time in proportion to its own length, whatever came before: 50 MB of
    output, or 10 MB without a newline, stream as fast as they arrive. Past ``limit``
    bytes the output is counted but no longer written, and the log says so.
    """

    def __init__(self, path: Path, limit: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w", encoding="utf-8", errors="replace")
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._partial = ""
        self._carriage = ""
        self._limit = limit
        self.received = 0
        self._written = 0

    def __call__(self, data: bytes) -> None:
        """Take a chunk of output; a pty sends CRLF line ends, the log gets LF."""
        self.received += len(data)
        text = self._carriage + self._decoder.decode(data)
        # A CRLF split between two chunks must still become one LF.
        self._carriage = "\r" if text.endswith("\r") else ""
        text = text[: len(text) - len(self._carriage)].replace("\r\n", "\n")
        self._write(text)
        lines = text.split("\n")
        if len(lines) == 1:
            self._partial = (self._partial + text)[-TAIL_LINE_CHARS:]
            return
        self._tail.append((self._partial + lines[0])[-TAIL_LINE_CHARS:])
        self._tail.extend(line[-TAIL_LINE_CHARS:] for line in lines[1:-1][-TAIL_LINES:])
        self._partial = lines[-1][-TAIL_LINE_CHARS:]

    def _write(self, text: str) -> None:
        if self._written >= self._limit:
            return
        room = self._limit - self._written
        if len(text) > room:  # characters, a close enough measure of bytes here
            self._file.write(text[:room])
            self._file.write(f"\n[log stops here: more than {self._limit} bytes of output]\n")
            self._written = self._limit
            return
        self._file.write(text)
        self._written += len(text)

    def close(self) -> None:
        """Close the log file."""
        self._file.write(self._carriage)
        self._file.close()

    def tail(self) -> tuple[str, ...]:
        """The last lines written."""
        lines = [*self._tail, self._partial] if self._partial else list(self._tail)
        return tuple(lines[-TAIL_LINES:])


class BuildStage:
    """Runs every target of a plan in parallel and collects verified artifacts."""

    def __init__(
        self,
        plan: Plan,
        *,
        source_archive: Path,
        run_dir: Path,
        log_dir: Path,
        progress: Progress,
        droplets: RunDroplets | None = None,
        static_hosts: Mapping[str, HostAccess] | None = None,
        fail_fast: bool = True,
        skip: Mapping[str, tuple[Artifact, ...]] | None = None,
        on_verified: Callable[[TargetResult], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self._plan = plan
        self._source_archive = source_archive
        self._run_dir = run_dir
        self._log_dir = log_dir
        self._progress = progress
        self._droplets = droplets
        self._static_hosts = static_hosts or {}
        self._fail_fast = fail_fast
        self._skip = skip or {}
        self._on_verified = on_verified
        # Shared with whatever else must stop with the stage, such as booting droplets.
        self._stop = stop or threading.Event()
        self._lock = threading.Lock()
        # Keyed by id(): Fabric connections to one host compare (and hash) equal.
        self._connections: dict[int, Connection] = {}

    @property
    def stopping(self) -> bool:
        """Whether the stage has been told to stop."""
        return self._stop.is_set()

    def stop(self) -> None:
        """Stop every target: close live connections, which hangs up their remote commands."""
        self._stop.set()
        with self._lock:
            connections = list(self._connections.values())
        for connection in connections:
            # Close the transport itself: that ends every channel at once, and Fabric's
            # close() would first try to close an SFTP session that another thread uses.
            transport = connection.transport
            if transport is not None:
                with contextlib.suppress(Exception):
                    transport.close()

    def run(self) -> list[TargetResult]:
        """Build every target; return one result per target, in plan order."""
        targets = self._plan.targets
        with ThreadPoolExecutor(
            max_workers=max(1, len(targets)), thread_name_prefix="target"
        ) as pool:
            futures = [pool.submit(self._run_target, target) for target in targets]
            return [future.result() for future in futures]

    def _run_target(self, target: TargetPlan) -> TargetResult:
        result = TargetResult(name=target.name, log_path=self._log_dir / f"{target.name}.log")
        if target.name in self._skip:
            result.status, result.artifacts = "succeeded", self._skip[target.name]
            self._progress.update(target.name, "done", "artifacts reused from an earlier run")
            return result
        log = LogStream(self._log_dir / f"{target.name}.log", target.limits.log_bytes)
        try:
            self._lifecycle(target, result, log)
            result.status = "succeeded"
            self._progress.update(target.name, "done", f"{len(result.artifacts)} artifact(s)")
            if self._on_verified is not None:
                self._on_verified(result)
        except Cancelled as error:
            result.status, result.error = "cancelled", str(error)
            self._progress.update(target.name, "cancelled")
        except Exception as error:  # every failure ends this target, never the others' threads
            result.status = "cancelled" if self._stop.is_set() else "failed"
            result.error = _describe(target.name, error)
            result.log_tail = log.tail()
            self._progress.update(
                target.name, result.status, result.error if result.status == "failed" else ""
            )
            if result.status == "failed" and self._fail_fast:
                self.stop()
        finally:
            log.close()
        return result

    def _lifecycle(self, target: TargetPlan, result: TargetResult, log: LogStream) -> None:
        self._check_stop(target)
        self._progress.update(target.name, "provisioning")
        started = time.time()
        droplet_id: int | None = None
        if target.machine.kind == "droplet":
            if self._droplets is None:
                raise BuildError(f"{target.name}: no cloud to create droplet {target.machine.name}")
            live, connection = self._droplets.provision(target.machine)
            droplet_id, started = live.id, live.requested_at
            result.price_hourly = live.price_hourly
        else:
            access = self._static_hosts[target.machine.name]
            connection = wait_for_ssh(
                access, time.monotonic() + SSH_DEADLINE_SECONDS, should_stop=self._stop.is_set
            )
        result.spans["provision"] = (started, time.time())
        with self._lock:
            self._connections[id(connection)] = connection
        try:
            self._check_stop(target)
            self._build(target, connection, result, log)
            self._collect(target, connection, result)
        finally:
            with self._lock:
                self._connections.pop(id(connection), None)
            if target.machine.kind == "static":
                # Static hosts outlive the run: leave nothing behind (best effort).
                with contextlib.suppress(Exception):
                    quiet = sshexec.Tail(1024)
                    sshexec.run(
                        connection, commands.cleanup(target.workdir), timeout=60, stdout=quiet
                    )
            connection.close()
            if droplet_id is not None and self._droplets is not None:
                self._progress.update(target.name, "destroying")
                self._droplets.destroy(droplet_id)
                result.machine_seconds = time.time() - started

    def _build(
        self, target: TargetPlan, connection: Connection, result: TargetResult, log: LogStream
    ) -> None:
        self._progress.update(target.name, "uploading")
        steps = {step.stage: step for step in target.steps}
        began = time.time()
        self._remote(connection, steps["prepare"], target)
        connection.put(str(self._source_archive), f"{target.workdir}/{commands.SOURCE_ARCHIVE}")
        self._remote(connection, steps["unpack"], target)
        self._check_stop(target)
        self._progress.update(target.name, "building")
        try:
            # On a pty, so the build is hung up with its session (see commands.build).
            status = sshexec.run(
                connection,
                steps["build"].command,
                timeout=target.timeout + 30,
                stdout=log,
                pty=True,
                where=target.name,
            )
        except sshexec.CommandTimedOut:
            result.log_tail = log.tail()
            raise BuildError(
                f"{target.name}: build exceeded its timeout of {target.timeout:.0f}s"
            ) from None
        finally:
            result.spans["build"] = (began, time.time())
        self._check_stop(target)
        if status == 124:
            result.log_tail = log.tail()
            raise BuildError(f"{target.name}: build exceeded its timeout of {target.timeout:.0f}s")
        if status != 0:
            result.log_tail = log.tail()
            raise BuildError(f"{target.name}: build failed with exit code {status}")

    def _collect(self, target: TargetPlan, connection: Connection, result: TargetResult) -> None:
        self._progress.update(target.name, "collecting")
        began = time.time()
        steps = {step.stage: step for step in target.steps}
        self._remote(connection, steps["collect"], target)
        self._progress.update(target.name, "verifying")
        destination = self._run_dir / "artifacts" / target.name
        # A directory of ours left by an earlier attempt; the bundle unpacks into a new one.
        shutil.rmtree(destination, ignore_errors=True)
        destination.parent.mkdir(parents=True, exist_ok=True)
        timeout = STEP_TIMEOUT_SECONDS + target.limits.bundle_bytes / TRANSFER_BYTES_PER_SECOND
        try:
            # The bundle streams straight into the strict reader: it is never on disk whole.
            with sshexec.reading(
                connection,
                commands.fetch_bundle(target.workdir),
                timeout=timeout,
                where=target.name,
            ) as bundle:
                result.artifacts = tuple(
                    verify_artifacts(
                        bundle,
                        destination,
                        target=target.name,
                        arch=target.arch,
                        package_format=target.format,
                        accepted=target.accepted,
                        limits=target.limits,
                    )
                )
        except BaseException:
            shutil.rmtree(destination, ignore_errors=True)
            raise
        result.spans["collect"] = (began, time.time())

    def _remote(self, connection: Connection, step: Step, target: TargetPlan) -> None:
        output = sshexec.Tail(16 * 1024)
        status = sshexec.run(
            connection, step.command, timeout=STEP_TIMEOUT_SECONDS, stdout=output, where=target.name
        )
        if status != 0:
            self._check_stop(target)
            message = output.text().strip().splitlines()
            raise BuildError(
                f"{target.name}: {step.stage} failed (exit {status})"
                + (f": {message[-1][:300]}" if message else "")
            )

    def _check_stop(self, target: TargetPlan) -> None:
        if self._stop.is_set():
            raise Cancelled(
                f"{target.name}: stopped because another target failed or the run was interrupted"
            )


def _describe(target: str, error: Exception) -> str:
    if isinstance(error, OrchestratorError):
        message = str(error)
        return message if message.startswith(target) else f"{target}: {message}"
    return f"{target}: {error.__class__.__name__}: {error}"
