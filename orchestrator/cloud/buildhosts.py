"""The seam between a release and the machines it builds on: one protocol, two kinds.

Droplets created for the run (:class:`orchestrator.cloud.droplets.RunDroplets`) and
existing static hosts (:class:`orchestrator.cloud.static.StaticHosts`) each implement
:class:`BuildHosts` once; the pipeline picks one by ``cloud.provider``, once. A machine,
once open, is a :class:`HostSession`: commands with a deadline and bounded output, a file
upload, a command's output as a stream. :mod:`orchestrator.testing` has both in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol

from orchestrator.config.schema import Network

Sink = Callable[[bytes], None]


@dataclass(frozen=True)
class Machine:
    """Where a target builds: a droplet to create, or an existing static host.

    A droplet is created in ``vpc_uuid`` (None: its region's default VPC) and reached on
    its address on ``network``; a static host at ``address``.
    """

    kind: Literal["droplet", "static"]
    name: str
    region: str | None = None
    size: str | None = None
    image: str | None = None
    tags: tuple[str, ...] = ()
    address: str | None = None
    port: int = 22
    user: str = "root"
    network: Network = "public"
    vpc_uuid: str | None = None


class HostSession(Protocol):
    """An open machine: where a target's commands run."""

    def run(self, command: str, *, timeout: float, output: Sink, pty: bool = False) -> int:
        """Run ``command``, its output to ``output`` as it arrives; its exit status.

        With ``pty`` it is hung up with the session. HostError when the connection is
        lost, :class:`orchestrator.remote.sshexec.CommandTimedOut` past ``timeout``.
        """

    def put(self, local: Path, remote: str) -> None:
        """Copy the file ``local`` to ``remote`` (relative to the login's home)."""

    def reading(self, command: str, *, timeout: float) -> AbstractContextManager[IO[bytes]]:
        """Run ``command`` and give its standard output to read as a stream."""

    def hang_up(self) -> None:
        """End every command under way at once (from any thread): the run is stopping."""

    def close(self) -> None:
        """Close the session."""


@dataclass(frozen=True)
class OpenedMachine:
    """A machine ready for commands, with what the summary says of it."""

    session: HostSession
    requested_at: float  # epoch seconds when it was asked for
    price_hourly: float = 0.0  # USD, for a droplet


@dataclass(frozen=True)
class Released:
    """What letting every machine of a run go achieved: the truth, for the summary."""

    destroyed: tuple[str, ...] = ()
    alive: tuple[str, ...] = ()
    errors: tuple[str, ...] = field(default=())


class BuildHosts(Protocol):
    """The machines of one run."""

    def check_capacity(self, machines: Sequence[Machine]) -> None:
        """CloudError before anything exists if the machines cannot all be had at once."""

    def open(self, machine: Machine, timeout: float) -> OpenedMachine:
        """Get ``machine`` ready for commands within ``timeout`` seconds."""

    def release(self, machine: Machine, timeout: float) -> None:
        """Let ``machine`` go: destroy a droplet and see it gone; nothing for a static host."""

    def release_all(self, timeout: float) -> Released:
        """Let every machine of the run go, also ones a failure left; report the truth."""

    def stop(self) -> None:
        """Stop waiting for machines (the run is stopping); later opens are cancelled."""
