"""Build hosts in memory: sessions that understand the commands of a plan.

A :class:`FakeSession` keeps a file system in a dict and knows the commands
:mod:`orchestrator.commands.build` builds: prepare a work directory, unpack the source, build
(or run the tests), collect the artifacts into a bundle, stream it, clean up. What a build
does is a :data:`Build` function of the target and its environment; the default builds one
.deb of the project, named, versioned and built for the architecture as the environment
says, and passes the tests.
Anything else answers 127, as a shell would.
"""

from __future__ import annotations

import hashlib
import io
import shlex
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from orchestrator.cloud.buildhosts import Machine, OpenedMachine, Released, Sink
from orchestrator.commands.build import ARTIFACT_ARCHIVE, CHECKSUMS, SOURCE_ARCHIVE
from orchestrator.config.inventory import TESTS
from orchestrator.errors import Cancelled, CloudError, HostError
from orchestrator.testing.packages import minimal_deb


@dataclass(frozen=True)
class BuildResult:
    """What a fake build does: its exit status, its output and the files it leaves."""

    status: int = 0
    output: bytes = b"built\n"
    files: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class BuildContext:
    """What a fake build is given: the target (``tests``: the tests), environment, hang-up."""

    target: str
    environment: Mapping[str, str]
    hung_up: threading.Event


Build = Callable[[BuildContext], BuildResult]


def deb_build(context: BuildContext) -> BuildResult:
    """One .deb of the project, as the target's environment names it; tests pass."""
    environment = context.environment
    if context.target == TESTS:
        return BuildResult(output=b"tests passed\n")
    if environment["FORMAT"] != "deb":
        return BuildResult(1, b"the fake host builds .deb packages only\n")
    name, version, arch = environment["PROJECT"], environment["VERSION"], environment["ARCH"]
    return BuildResult(
        files={f"dist/{name}_{version}-1_{arch}.deb": minimal_deb(name, version, arch)}
    )


class FakeSession:
    """An open fake machine (a :class:`~orchestrator.cloud.buildhosts.HostSession`)."""

    def __init__(self, machine: Machine, build: Build) -> None:
        self.machine = machine
        self.files: dict[str, bytes] = {}
        self.commands: list[str] = []
        self.hung_up = threading.Event()
        self.closed = False
        self._build = build
        self._workdir = ""

    def run(self, command: str, *, timeout: float, output: Sink, pty: bool = False) -> int:
        """Carry out one of the plan's commands over the in-memory file system."""
        if self.hung_up.is_set():
            raise HostError(f"{self.machine.name}: the connection is closed")
        self.commands.append(command)
        words = shlex.split(command)
        if command.startswith("rm -rf ") and "mkdir -p" in command:
            self._workdir = words[2]
            self.files = {k: v for k, v in self.files.items() if not k.startswith(self._workdir)}
            return 0
        if command.startswith("tar -xzf "):
            return 0 if f"{self._workdir}/{SOURCE_ARCHIVE}" in self.files else 2
        if command.startswith("cd ") and " env " in command:
            return self._run_build(words, output)
        if command.startswith("cd ") and "bash -c" in command:
            return self._collect(output)
        if command.startswith("rm -rf "):
            self.files = {k: v for k, v in self.files.items() if not k.startswith(words[2])}
            return 0
        output(f"sh: {words[0]}: not found\n".encode())
        return 127

    def _run_build(self, words: list[str], output: Sink) -> int:
        start = words.index("env") + 1
        environment = {}
        for word in words[start:]:
            if "=" not in word:
                break
            key, value = word.split("=", 1)
            environment[key] = value
        # The tests' environment names no target.
        target = environment.get("TARGET", TESTS)
        result = self._build(BuildContext(target, environment, self.hung_up))
        if self.hung_up.is_set():
            raise HostError(f"{self.machine.name}: the connection closed during the build")
        output(result.output)
        for name, data in result.files.items():
            self.files[f"{self._workdir}/src/{name}"] = data
        return result.status

    def _collect(self, output: Sink) -> int:
        prefix = f"{self._workdir}/src/"
        built = {k[len(prefix) :]: v for k, v in self.files.items() if k.startswith(prefix)}
        if not built:
            output(b"no file matches the artifact globs\n")
            return 3
        sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted(built.items()))
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name, data in [(CHECKSUMS, sums.encode()), *sorted(built.items())]:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        self.files[f"{self._workdir}/{ARTIFACT_ARCHIVE}"] = buffer.getvalue()
        return 0

    def put(self, local: Path, remote: str) -> None:
        """Keep the file's bytes under ``remote``."""
        if self.hung_up.is_set():
            raise HostError(f"{self.machine.name}: the connection is closed")
        self.files[remote] = local.read_bytes()

    @contextmanager
    def reading(self, command: str, *, timeout: float) -> Iterator[IO[bytes]]:
        """``cat -- PATH``: the file as a stream."""
        path = shlex.split(command)[-1]
        if path not in self.files:
            raise HostError(f"{self.machine.name}: cat failed: {path}: No such file or directory")
        yield io.BytesIO(self.files[path])

    def hang_up(self) -> None:
        """End whatever runs, now and later."""
        self.hung_up.set()

    def close(self) -> None:
        """Mark the session closed."""
        self.closed = True


class FakeBuildHosts:
    """Machines in memory (a :class:`~orchestrator.cloud.buildhosts.BuildHosts`).

    ``capacity`` is how many machines the account could hold at once; ``unreachable``
    names machines that never answer, ``undeletable`` machines the cloud will not delete;
    ``build`` is what every build does.
    """

    def __init__(
        self,
        build: Build = deb_build,
        *,
        capacity: int = 25,
        unreachable: Sequence[str] = (),
        undeletable: Sequence[str] = (),
        price_hourly: float = 0.00893,
    ) -> None:
        self.build = build
        self.capacity = capacity
        self.unreachable = set(unreachable)
        self.undeletable = set(undeletable)
        self.price_hourly = price_hourly
        self.sessions: dict[str, FakeSession] = {}
        self.alive: set[str] = set()
        self.released: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def check_capacity(self, machines: Sequence[Machine]) -> None:
        """CloudError when more machines are wanted than the account holds."""
        if len(machines) > self.capacity:
            raise CloudError(
                f"the account's droplet limit is {self.capacity}, but this run creates up to "
                f"{len(machines)} at once"
            )

    def open(self, machine: Machine, timeout: float) -> OpenedMachine:
        """A fresh session on ``machine``."""
        if self._stopping.is_set():
            raise Cancelled(f"{machine.name}: not created, the run is stopping")
        if machine.name in self.unreachable:
            raise HostError(f"{machine.name}: SSH did not answer before the deadline")
        session = FakeSession(machine, self.build)
        with self._lock:
            self.sessions[machine.name] = session
            self.alive.add(machine.name)
        return OpenedMachine(session, time.time(), self.price_hourly)

    def release(self, machine: Machine, timeout: float) -> None:
        """The machine is gone (CloudError if it is undeletable)."""
        if machine.name in self.undeletable:
            raise CloudError(f"{machine.name}: the API answered 500 to every DELETE")
        with self._lock:
            if machine.name in self.alive:
                self.alive.discard(machine.name)
                self.released.append(machine.name)

    def release_all(self, timeout: float) -> Released:
        """Every machine still alive is gone, but the undeletable ones."""
        with self._lock:
            stuck = tuple(sorted(self.alive & self.undeletable))
            left = sorted(self.alive - self.undeletable)
            self.alive -= set(left)
            self.released.extend(left)
        errors = tuple(f"{name}: the API answered 500 to every DELETE" for name in stuck)
        return Released(destroyed=tuple(left), alive=stuck, errors=errors)

    def stop(self) -> None:
        """Later opens are cancelled."""
        self._stopping.set()
