"""Commands on the repo server over one pinned SSH connection, with data on their stdin.

Fabric's ``run`` feeds standard input a character at a time and keeps all output in
memory; a publish streams a tar archive of every changed file into one remote ``tar``, and
a server's answers are not trusted to be small, so commands here run through
:mod:`orchestrator.remote.sshexec`: control commands have a deadline and a bound on their
output, transfers a bound on how long any one write or read may block.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from orchestrator.errors import HostError, PublishError
from orchestrator.remote import sshexec
from orchestrator.remote.fleet import HostAccess, wait_for_ssh

if TYPE_CHECKING:
    from fabric import Connection

CONNECT_TIMEOUT = 20.0
# A control command (state, lock, swap) finishes in seconds; a stuck server fails.
CONTROL_DEADLINE = 300.0
# After a signal, the lock and the audit line get this long, connecting included: an
# interrupt is answered in seconds whatever the server does.
QUICK_DEADLINE = 5.0
# Uploads and downloads of a whole tree may take long; each write or read may block
# at most sshexec.IO_SECONDS.
TRANSFER_DEADLINE = 6 * 3600.0
# A manifest of about half a million files; anything longer is not an answer.
MAX_OUTPUT = 64 << 20
MAX_ERRORS = 1 << 20

Feed = Callable[[IO[bytes]], None]
Sink = Callable[[IO[bytes]], None]


@dataclass(frozen=True)
class Completed:
    """A finished remote command."""

    status: int
    stdout: str
    stderr: str


class RemoteShell:
    """Runs shell commands on one server; ``where`` names it in errors."""

    def __init__(
        self, connection: Connection, where: str, control_deadline: float = CONTROL_DEADLINE
    ) -> None:
        self._connection = connection
        self.where = where
        self._control_deadline = control_deadline

    def run(
        self, command: str, *, stdin: bytes = b"", check: bool = True, small: bool = False
    ) -> Completed:
        """Run ``command`` with ``stdin``; PublishError on a non-zero status if ``check``.

        ``small`` input (a page, not a tree) gets a control command's deadline.
        """

        def feed(stream: IO[bytes]) -> None:
            stream.write(stdin)

        return self.stream(command, feed if stdin else None, check=check, small=small)

    def stream(
        self,
        command: str,
        feed: Feed | None,
        *,
        sink: Sink | None = None,
        check: bool = True,
        small: bool = False,
    ) -> Completed:
        """Run ``command`` while ``feed`` writes its standard input.

        ``sink`` reads its standard output as it arrives (for output too large to hold);
        without one, the output is returned.
        """
        if sink is not None:
            try:
                with sshexec.reading(
                    self._connection, command, timeout=TRANSFER_DEADLINE, where=self.where
                ) as output:
                    sink(output)
            except HostError as error:
                raise PublishError(str(error)) from None
            return Completed(0, "", "")
        stdout = sshexec.Capture(MAX_OUTPUT, self.where)
        stderr = sshexec.Capture(MAX_ERRORS, self.where)
        try:
            status = sshexec.run(
                self._connection,
                command,
                timeout=TRANSFER_DEADLINE
                if feed is not None and not small
                else self._control_deadline,
                stdout=stdout,
                stderr=stderr,
                feed=feed,
                where=self.where,
            )
        except HostError as error:
            raise PublishError(str(error)) from None
        result = Completed(status, stdout.text(), stderr.text())
        if check and status != 0:
            detail = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()
            raise PublishError(
                f"{self.where}: remote command failed (status {status}): "
                + " | ".join(line[:200] for line in detail[-5:])
            )
        return result


@contextmanager
def open_shell(access: HostAccess, where: str, *, quick: bool = False) -> Iterator[RemoteShell]:
    """A shell on the server, its host key pinned; the connection is closed afterwards.

    A ``quick`` one (after a signal) gives connecting and each command seconds only.
    """
    budget = QUICK_DEADLINE if quick else CONNECT_TIMEOUT
    try:
        connection = wait_for_ssh(access, time.monotonic() + budget)
    except HostError as error:
        raise PublishError(f"{where}: {error}") from None
    try:
        yield RemoteShell(connection, where, QUICK_DEADLINE if quick else CONTROL_DEADLINE)
    finally:
        connection.close()
