"""Commands on an SSH connection's raw channel: a deadline, and output in bounded memory.

Fabric's ``run`` is not safe against a host that talks too much: invoke's ``Runner``
re-joins its whole capture buffer on every read, so 50 MB of build output takes minutes
and all of it stays in memory. Here output goes to a callback chunk by chunk as it
arrives (constant work per byte), what must be kept is kept as a bounded :class:`Tail`,
and every command has a deadline after which its channel is closed.

:func:`run` is for commands whose output is a log or a short answer; :func:`reading` is
for commands whose standard output is data to consume as a stream (an archive).
"""

from __future__ import annotations

import contextlib
import io
import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, cast

from orchestrator.errors import HostError

if TYPE_CHECKING:
    import paramiko
    from fabric import Connection

Sink = Callable[[bytes], None]
Feed = Callable[[IO[bytes]], None]
_CHUNK = 1 << 16
# How long one wait for the channel may block before the deadline is looked at again.
_POLL_SECONDS = 0.5
_MAX_LEFTOVER = 1 << 20
IO_SECONDS = 300.0


def lost() -> tuple[type[Exception], ...]:
    """How a lost or broken connection shows itself, in paramiko's several ways.

    A function, not a constant: paramiko loads when a connection is first opened
    (:func:`orchestrator.remote.fleet.connect`), not with every task that may use SSH.
    """
    import paramiko

    return (OSError, paramiko.SSHException, EOFError)


class CommandTimedOut(HostError):
    """A remote command did not finish before its deadline; its channel was closed."""


class Capture:
    """All output written to it, as a sink, up to ``limit`` bytes: HostError past that."""

    def __init__(self, limit: int, where: str = "the host") -> None:
        self._limit = limit
        self._where = where
        self._data = bytearray()

    def __call__(self, data: bytes) -> None:
        """Keep ``data``; HostError once the output passes the limit."""
        self._data += data
        if len(self._data) > self._limit:
            raise HostError(f"{self._where}: answered with more than {self._limit} bytes")

    def text(self) -> str:
        """The output, decoded leniently."""
        return self._data.decode("utf-8", errors="replace")


class Tail:
    """The last ``limit`` bytes written to it, as a sink."""

    def __init__(self, limit: int = 64 * 1024) -> None:
        self._limit = limit
        self._data = bytearray()
        self.total = 0

    def __call__(self, data: bytes) -> None:
        """Keep ``data``, dropping the oldest bytes past the limit (amortised constant time)."""
        self.total += len(data)
        self._data += data
        if len(self._data) > 2 * self._limit:
            del self._data[: len(self._data) - self._limit]

    def text(self) -> str:
        """What is kept, decoded leniently."""
        return bytes(self._data[-self._limit :]).decode("utf-8", errors="replace")


def _open_channel(connection: Connection, command: str, pty: bool, where: str) -> paramiko.Channel:
    try:
        channel: paramiko.Channel = connection.create_session()
        if pty:
            channel.get_pty(width=200, height=50)
        channel.exec_command(command)
    except lost() as error:
        raise HostError(f"{where}: cannot start a command: {error}") from None
    return channel


def _end_input(channel: paramiko.Channel) -> None:
    """Send the channel's end of file, unless the channel is closed already.

    paramiko's ``shutdown_write`` builds the EOF under the channel's lock but sends it
    after letting go (paramiko#1584, #1705): a command that ends in that moment has its
    close answered by the transport thread first, and sshd drops the whole connection
    over an EOF for a channel it has freed ("Received ieof for nonexistent channel").
    Sent under the lock, the EOF goes before that answer or not at all. The lock is held
    while a key exchange holds the send back, which paramiko bounds (30 s) and is why
    paramiko itself lets go for data.
    """
    with channel.lock:
        if channel.closed or channel.eof_sent:
            return
        message = channel._send_eof()
        channel.transport._send_user_message(message)


def _drain(channel: paramiko.Channel, stdout: Sink, stderr: Sink) -> None:
    while channel.recv_ready():
        stdout(channel.recv(_CHUNK))
    while channel.recv_stderr_ready():
        stderr(channel.recv_stderr(_CHUNK))


def run(
    connection: Connection,
    command: str,
    *,
    timeout: float,
    stdout: Sink,
    stderr: Sink | None = None,
    feed: Feed | None = None,
    pty: bool = False,
    where: str = "the host",
) -> int:
    """Run ``command``, giving its output to the sinks as it arrives; its exit status.

    ``feed`` writes the command's standard input first (a command that stops reading it
    early is not an error here: its status says why). With ``pty`` the command gets a
    terminal (its output arrives on ``stdout`` only), so it is hung up when the session
    ends. :class:`CommandTimedOut` once ``timeout`` seconds pass;
    :class:`~orchestrator.errors.HostError` when the connection is lost.
    """
    deadline = time.monotonic() + timeout
    errors = stderr or stdout
    channel = _open_channel(connection, command, pty, where)
    try:
        if feed is not None:
            # A write that blocks this long means the host stopped reading.
            channel.settimeout(min(timeout, IO_SECONDS))
            # A command that stopped reading: its exit status and stderr say why.
            with contextlib.suppress(OSError):
                feed(cast(IO[bytes], _Input(channel)))
        _end_input(channel)
        while True:
            _drain(channel, stdout, errors)
            # sshd may send the exit status while output still waits for window space:
            # only the end of file says that all of it arrived.
            finished = (channel.eof_received or channel.closed) and channel.exit_status_ready()
            if finished and not (channel.recv_ready() or channel.recv_stderr_ready()):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CommandTimedOut(f"{where}: the command did not finish within {timeout:g}s")
            select.select([channel], [], [], min(remaining, _POLL_SECONDS))
        _drain(channel, stdout, errors)
        status = channel.recv_exit_status()
    except lost() as error:
        raise HostError(f"{where}: the connection failed: {error}") from None
    finally:
        channel.close()
    if status == -1:
        raise HostError(f"{where}: the connection closed before the command finished")
    return int(status)


class _Input(io.RawIOBase):
    """A channel's standard input as a stream that stops at its first failed write.

    A write that fails (the host stopped reading, or a signal's exception raised while it
    waited for the host) leaves the rest unsent: what a writer's cleanup writes after it
    (tarfile closing its stream) is dropped instead of waiting on the host again, so the
    first error, an interrupt above all, is the one that goes on.
    """

    def __init__(self, channel: paramiko.Channel) -> None:
        super().__init__()
        self._channel = channel
        self._failed = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        size = len(data)
        if self._failed:
            return size
        try:
            self._channel.sendall(bytes(data))
        except BaseException:
            self._failed = True
            raise
        return size


class _Output(io.RawIOBase):
    """A channel's standard output as a stream, each read bounded by the deadline."""

    def __init__(self, channel: paramiko.Channel, deadline: float, stderr: Tail, where: str):
        super().__init__()
        self._channel = channel
        self._deadline = deadline
        self._stderr = stderr
        self._where = where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            while self._channel.recv_stderr_ready():
                self._stderr(self._channel.recv_stderr(_CHUNK))
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise CommandTimedOut(f"{self._where}: the transfer did not finish in time")
            self._channel.settimeout(min(remaining, _POLL_SECONDS))
            try:
                data = self._channel.recv(len(buffer))
            except TimeoutError:
                continue
            buffer[: len(data)] = data
            return len(data)


@contextmanager
def reading(
    connection: Connection, command: str, *, timeout: float, where: str = "the host"
) -> Iterator[IO[bytes]]:
    """Run ``command`` and yield its standard output to read as a stream.

    Leaving the block closes the channel; HostError if the command failed (with the end
    of its standard error) or did not finish within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    stderr = Tail(4096)
    channel = _open_channel(connection, command, False, where)
    try:
        _end_input(channel)
        yield io.BufferedReader(_Output(channel, deadline, stderr, where), _CHUNK)
        # What the consumer left unread (the padding after an archive's end) is drained,
        # up to a little: a host that goes on sending is refused, not waited for.
        output = _Output(channel, deadline, stderr, where)
        leftover = 0
        while chunk := output.read(_CHUNK):
            leftover += len(chunk)
            if leftover > _MAX_LEFTOVER:
                raise HostError(f"{where}: sent more than it should after the data")
        channel.status_event.wait(max(0.0, deadline - time.monotonic()))
        status = channel.recv_exit_status() if channel.exit_status_ready() else -1
    except lost() as error:
        raise HostError(f"{where}: the connection failed: {error}") from None
    finally:
        channel.close()
    if status != 0:
        detail = stderr.text().strip().splitlines()[-1:] or [f"exit status {status}"]
        raise HostError(f"{where}: {command.split()[0]} failed: {detail[0]}")
