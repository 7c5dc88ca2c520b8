"""Looking at processes through /proc: the sandbox finds and ends its own processes by pid.

A pid alone is not proof of identity (pids are reused), so callers check the command line
before they kill anything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import tenacity

PROC = Path("/proc")
# What the sandbox's daemons and hosts keep of the environment that started them: the
# caller's may hold the DigitalOcean token, the signing key and bucket credentials, and a
# root build on a droplet can read its sshd's environment (/proc/1/environ).
_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ")


def clean_environment(pythonpath: str | None = None) -> dict[str, str]:
    """A minimal environment for a sandbox process (with ``PYTHONPATH`` when given)."""
    kept = {name: os.environ[name] for name in _KEPT if name in os.environ}
    return {**kept, "PYTHONPATH": pythonpath} if pythonpath else kept


def all_pids() -> list[int]:
    """Every pid visible in /proc."""
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def is_alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting to be reaped."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    # The state letter follows the command name, which is in parentheses and may hold spaces.
    return stat[stat.rfind(")") + 2 :].split(" ", 1)[0] not in ("Z", "X")


def cmdline(pid: int) -> str:
    """The process's arguments joined by spaces; empty once it is gone or a zombie."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def pid_namespace(pid: int) -> str | None:
    """The pid namespace of a process (``pid:[4026531836]``), None when it cannot be read."""
    try:
        return os.readlink(PROC / str(pid) / "ns" / "pid")
    except OSError:
        # Gone, or a process even root may not inspect (the VM's init).
        return None


def children_pid_namespace(pid: int) -> str | None:
    """The pid namespace the children of ``pid`` are created in (an ``unshare --pid``'s)."""
    try:
        return os.readlink(PROC / str(pid) / "ns" / "pid_for_children")
    except OSError:
        return None


def reap(pid: int) -> None:
    """Collect the exit status if the process is our exited child, so it leaves no zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def reap_children() -> None:
    """Collect every exited child; a daemon calls this so its dead hosts leave no zombies."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_until(ready: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Ask ``ready()`` every ``interval`` seconds until it says yes; False at the deadline.

    An exception from ``ready`` (the process it waits for died) ends the wait at once.
    """
    waiting = tenacity.Retrying(
        retry=tenacity.retry_if_result(lambda done: not done),
        wait=tenacity.wait_fixed(interval),
        stop=tenacity.stop_after_delay(timeout),
        retry_error_callback=lambda _state: False,
    )
    return bool(waiting(ready))


def listening(address: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``address:port``."""
    try:
        with socket.create_connection((address, port), timeout=0.2):
            return True
    except OSError:
        return False


def answering(address: str, port: int, patience: float = 5.0) -> bool:
    """Whether something listens on ``address:port`` within ``patience`` seconds."""
    return wait_until(lambda: listening(address, port), patience, interval=0.1)


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until the processes exited; returns those still alive at the deadline."""
    remaining = list(pids)

    def gone() -> bool:
        for pid in remaining:
            reap(pid)
        remaining[:] = [pid for pid in remaining if is_alive(pid)]
        return not remaining

    wait_until(gone, timeout)
    return remaining


def kill(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Send a signal, ignoring a process that is already gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def start_listening(command: list[str], log: Path, address: str, port: int, timeout: float) -> bool:
    """Start a sandbox daemon in a session of its own, its output appended to ``log``.

    It gets :func:`clean_environment`, never the caller's secrets. True once it listens on
    ``address:port``; False if it exited or was still not listening after ``timeout``.
    """
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=clean_environment(),
            start_new_session=True,
        )
    wait_until(lambda: process.poll() is not None or listening(address, port), timeout)
    return process.poll() is None and listening(address, port)


def stop_all(pids: list[int], timeout: float) -> None:
    """SIGTERM ``pids``, then SIGKILL those still alive after ``timeout``, and wait for them."""
    for pid in pids:
        kill(pid, signal.SIGTERM)
    left = wait_gone(pids, timeout)
    for pid in left:
        kill(pid, signal.SIGKILL)
    wait_gone(left, timeout)
