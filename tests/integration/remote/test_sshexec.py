"""Commands on a real sshd through orchestrator.remote.sshexec: complete output, deadlines, bounds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import IO

import pytest
from fabric import Connection

from orchestrator.errors import HostError
from orchestrator.remote import sshexec
from orchestrator.remote.fleet import HostAccess, connect
from tests.integration.conftest import standalone_host

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def host() -> Iterator[HostAccess]:
    with standalone_host("host") as access:
        yield access


@pytest.fixture
def connection(host: HostAccess) -> Iterator[Connection]:
    # A connection per test: one test's flood or cut-off must not decide the next's fate.
    opened = connect(host)
    try:
        yield opened
    finally:
        opened.close()


def test_all_output_arrives_though_the_exit_status_comes_first(connection: Connection) -> None:
    # sshd sends the exit status while output still waits for window space.
    for _ in range(10):
        output = sshexec.Capture(8 << 20)
        status = sshexec.run(connection, "head -c 5000000 /dev/zero", timeout=30, stdout=output)
        assert status == 0 and len(output.text()) == 5_000_000


def test_stdin_stdout_and_stderr(connection: Connection) -> None:
    def feed(stdin: IO[bytes]) -> None:
        stdin.write(b"fed")

    out, err = sshexec.Capture(1024), sshexec.Capture(1024)
    status = sshexec.run(
        connection,
        "cat; echo oops >&2; exit 3",
        timeout=30,
        stdout=out,
        stderr=err,
        feed=feed,
    )
    assert (status, out.text(), err.text()) == (3, "fed", "oops\n")


def test_a_command_past_its_deadline_is_cut_off(connection: Connection) -> None:
    started = time.monotonic()
    with pytest.raises(sshexec.CommandTimedOut, match="did not finish within 1s"):
        sshexec.run(connection, "sleep 30", timeout=1, stdout=sshexec.Tail())
    assert time.monotonic() - started < 5


def test_too_much_output_is_refused(connection: Connection) -> None:
    with pytest.raises(HostError, match="answered with more than 1000 bytes"):
        sshexec.run(connection, "yes", timeout=30, stdout=sshexec.Capture(1000))


def test_a_stream_is_read_and_its_failure_reported(connection: Connection) -> None:
    with sshexec.reading(connection, "head -c 3000000 /dev/zero", timeout=30) as stream:
        assert len(stream.read()) == 3_000_000
    with (
        pytest.raises(HostError, match="cat failed: cat: /nonexistent: No such file"),
        sshexec.reading(connection, "cat /nonexistent", timeout=30) as stream,
    ):
        stream.read()
    with (
        pytest.raises(HostError, match="sent more than it should"),
        sshexec.reading(connection, "yes", timeout=30) as stream,
    ):
        stream.read(10)


def test_the_end_of_input_never_follows_the_channels_close(
    connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # paramiko builds a channel's EOF under the channel's lock but sends it after letting
    # go: when the command ends in between, the transport thread answers sshd's close
    # first, and sshd drops the whole connection over an EOF for a channel it has freed
    # ("Received ieof for nonexistent channel"); the next command then cannot start
    # (a publish failed so, once, under load). A slow send of the EOF widens the window.
    import paramiko
    from paramiko.common import cMSG_CHANNEL_EOF

    send = paramiko.Transport._send_user_message

    def slow_eof(transport: paramiko.Transport, message: paramiko.Message) -> None:
        if message.asbytes()[:1] == cMSG_CHANNEL_EOF:
            time.sleep(0.3)
        send(transport, message)

    monkeypatch.setattr(paramiko.Transport, "_send_user_message", slow_eof)
    for _ in range(3):
        assert sshexec.run(connection, "true", timeout=30, stdout=sshexec.Tail()) == 0
    with sshexec.reading(connection, "true", timeout=30) as stream:
        assert stream.read() == b""
    assert sshexec.run(connection, "true", timeout=30, stdout=sshexec.Tail()) == 0
