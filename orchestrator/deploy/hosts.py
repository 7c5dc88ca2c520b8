"""A shell on each host of an environment, its host key pinned: what deploy hosts connect to.

:class:`HostShell` is what the deploy needs of a host (a
:class:`~orchestrator.deploy.seams.DeployHosts` gives one per host): run a command with
a deadline and bounded output, hang up. :func:`open_ssh_shell` is the real one, over SSH
through :mod:`orchestrator.remote.sshexec`; a host presenting another key than the pinned
one is refused (that is bad input, exit 2, before any host is changed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Protocol

from orchestrator.commands import deploy as commands
from orchestrator.config.schema import Become
from orchestrator.errors import DeployError, HostError, HostKeyMismatch, UsageError
from orchestrator.remote import sshexec
from orchestrator.remote.fleet import HostAccess, wait_for_ssh

if TYPE_CHECKING:
    from fabric import Connection

CONNECT_TIMEOUT = 20.0
MAX_OUTPUT = 1 << 20


@dataclass(frozen=True)
class Completed:
    """A finished command: its status and (bounded) output."""

    status: int
    stdout: str
    stderr: str

    def last_lines(self, count: int = 5) -> str:
        """The last lines of its output, on one line, for messages."""
        lines = (self.stderr.strip() or self.stdout.strip() or "no output").splitlines()
        return " | ".join(line.strip()[:200] for line in lines[-count:])


class HostShell(Protocol):
    """A shell on one host; ``where`` names it in messages."""

    where: str

    def run(
        self, command: str, *, timeout: float, stdin: bytes = b"", as_user: bool = False
    ) -> Completed:
        """Run ``command`` with ``stdin``; its status and output (DeployError if it hangs).

        It runs as root (through sudo for a login that becomes root), unless ``as_user``:
        then as the login itself.
        """

    def hang_up(self) -> None:
        """End the connection at once (from any thread): running commands end with it."""

    def close(self) -> None:
        """Close the connection."""


class SshShell:
    """A :class:`HostShell` over one pinned SSH connection; ``become`` as its host says."""

    def __init__(self, connection: Connection, where: str, become: Become | None = None) -> None:
        self._connection = connection
        self.where = where
        self._become = become

    def run(
        self, command: str, *, timeout: float, stdin: bytes = b"", as_user: bool = False
    ) -> Completed:
        """Run ``command`` on a raw channel with a deadline and bounded output."""
        if self._become == "sudo" and not as_user:
            command = commands.as_root(command)
        stdout = sshexec.Tail(MAX_OUTPUT)
        stderr = sshexec.Tail(MAX_OUTPUT)

        def feed(stream: IO[bytes]) -> None:
            stream.write(stdin)

        try:
            status = sshexec.run(
                self._connection, command, timeout=timeout, stdout=stdout, stderr=stderr,
                feed=feed if stdin else None, where=self.where,
            )  # fmt: skip
        except HostError as error:
            raise DeployError(str(error)) from None
        return Completed(status, stdout.text(), stderr.text())

    def hang_up(self) -> None:
        """Close the transport: that ends every channel."""
        transport = self._connection.transport
        if transport is not None:
            transport.close()

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()


def open_ssh_shell(access: HostAccess) -> SshShell:
    """A shell on ``access``'s host; UsageError for a host key that is not the pinned one."""
    try:
        connection = wait_for_ssh(access, time.monotonic() + CONNECT_TIMEOUT)
    except HostKeyMismatch as error:
        raise UsageError(f"{error}; fix the host_key pinned in the inventory") from None
    except HostError as error:
        raise DeployError(str(error)) from None
    return SshShell(connection, access.name, access.become)
