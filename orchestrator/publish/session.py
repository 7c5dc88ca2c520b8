"""Commands on the repo server over one pinned SSH connection, with data on their stdin.

Fabric's ``run`` feeds standard input a character at a time; a publish streams a tar
archive of every changed file into one remote ``tar``, so commands here run on a raw
channel of the Fabric connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

import paramiko
from fabric import Connection

from orchestrator.errors import HostError, PublishError
from orchestrator.fleet import HostAccess, wait_for_ssh

# Seconds one read or write on a channel may block: a stuck server fails, a slow one not.
IO_TIMEOUT = 300.0
CONNECT_TIMEOUT = 20.0

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

    def __init__(self, connection: Connection, where: str) -> None:
        self._connection = connection
        self.where = where

    def run(self, command: str, *, stdin: bytes = b"", check: bool = True) -> Completed:
        """Run ``command`` with ``stdin``; PublishError on a non-zero status if ``check``."""

        def feed(stream: IO[bytes]) -> None:
            stream.write(stdin)

        return self.stream(command, feed if stdin else None, check=check)

    def stream(
        self, command: str, feed: Feed | None, *, sink: Sink | None = None, check: bool = True
    ) -> Completed:
        """Run ``command`` while ``feed`` writes its standard input.

        ``sink`` reads its standard output as it arrives (for output too large to hold);
        without one, the output is returned.
        """
        channel = self._connection.create_session()
        channel.settimeout(IO_TIMEOUT)
        try:
            channel.exec_command(command)
            sent = True
            if feed is not None:
                try:
                    with channel.makefile("wb") as stdin:
                        feed(stdin)
                        stdin.flush()
                except OSError:
                    # The command stopped reading (it failed): its stderr says why.
                    sent = False
            channel.shutdown_write()
            stdout = ""
            with channel.makefile("rb") as output:
                if sink is None:
                    stdout = output.read().decode(errors="replace")
                else:
                    sink(output)
            stderr = channel.makefile_stderr("rb").read().decode(errors="replace")
            status = channel.recv_exit_status()
        except (OSError, paramiko.SSHException) as error:
            raise PublishError(f"{self.where}: the connection failed: {error}") from None
        finally:
            channel.close()
        result = Completed(status, stdout, stderr)
        if check and (status != 0 or not sent):
            detail = (stderr.strip() or stdout.strip() or "no output").splitlines()[-5:]
            raise PublishError(
                f"{self.where}: remote command failed (status {status}): {' | '.join(detail)}"
            )
        return result


@contextmanager
def open_shell(access: HostAccess, where: str) -> Iterator[RemoteShell]:
    """A shell on the server, its host key pinned; the connection is closed afterwards."""
    try:
        connection = wait_for_ssh(access, time.monotonic() + CONNECT_TIMEOUT)
    except HostError as error:
        raise PublishError(f"{where}: {error}") from None
    try:
        yield RemoteShell(connection, where)
    finally:
        connection.close()
