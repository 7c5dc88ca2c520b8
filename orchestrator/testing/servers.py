"""Deploy hosts in memory: shells that understand the commands a deploy plan gives them.

A :class:`FakeServer` keeps what a Debian server would: installed package versions, unit
states, the deploy records and the environment's lock. :class:`FakeShell` answers the
commands of :mod:`orchestrator.commands.deploy` (and ``check VERSION`` health commands)
against it, so a whole deploy, with batches, failures and reverts, runs in a unit test.
Every command a shell ran is kept, to count round trips.
"""

from __future__ import annotations

import re
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.commands.deploy import MARK, ROOT_REFUSED, as_root, checked_as_root
from orchestrator.deploy.hosts import Completed
from orchestrator.errors import DeployError

SUDO_REFUSED = "sudo: a password is required"


@dataclass
class FakeServer:
    """One host's state; ``healthy(version)`` decides its health checks."""

    name: str
    packages: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    records: list[str] = field(default_factory=list)
    lock: str | None = None
    healthy: Callable[[str], bool] = lambda version: True
    broken_install: set[str] = field(default_factory=set)
    # Whether a login that becomes root may (its sudoers lines are there).
    sudo: bool = True
    # A host that went down: every command, on any connection, fails from then on.
    down: bool = False
    # A command containing this loses the connection (as a host that hangs up does).
    lost_on: str | None = None
    # Packages in another dpkg state than installed (name -> abbreviation, e.g. "hi").
    unsettled: dict[str, str] = field(default_factory=dict)
    # Called with each command before it is answered (a test sends a signal from here).
    on_command: Callable[[str], None] = lambda command: None
    commands: list[str] = field(default_factory=list)
    guard: threading.Lock = field(default_factory=threading.Lock)


# How a login's command is run through sudo, up to the command itself.
_CHECKED = checked_as_root("")[: -len(as_root(""))]
_DONE = Completed(0, "", "")


def _inspect(server: FakeServer, command: str) -> Completed:
    """The inspection: packages (settled, then not), units' states, records, between marks."""
    packages = "".join(f"{p} ii  {v}\n" for p, v in server.packages.items())
    packages += "".join(f"{p} {a:<3} 1.0\n" for p, a in server.unsettled.items())
    units = "".join(f"{state}\n" for state in server.units.values())
    records = "".join(f"{line}\n" for line in server.records)
    return Completed(0, f"{packages}{MARK}\n{units}{MARK}\n{records}", "")


def _take_lock(server: FakeServer, command: str) -> Completed:
    """Take the lock with the command's details; status 3 with the holder's if it is held."""
    details = shlex.split(command.split("then printf %s ", 1)[1].split(" > ", 1)[0])[0]
    if server.lock is not None:
        return Completed(3, server.lock, "")
    server.lock = details
    return _DONE


def _release_lock(server: FakeServer, command: str) -> Completed:
    """Release the lock if its details hold the command's token."""
    token = shlex.split(command)[2]
    if server.lock is not None and token in server.lock.splitlines():
        server.lock = None
    return _DONE


def _force_unlock(server: FakeServer, command: str) -> Completed:
    """Remove the lock whoever holds it; its details, if it was held."""
    held, server.lock = server.lock, None
    return Completed(0, held or "", "")


def _read_lock(server: FakeServer, command: str) -> Completed:
    """The lock's details; status 1 when it is free."""
    return Completed(0, server.lock, "") if server.lock else Completed(1, "", "")


def _succeed(server: FakeServer, command: str) -> Completed:
    """A step that changes nothing a fake server keeps: the source, apt's update, dpkg's settling."""
    return _DONE


def _install(server: FakeServer, command: str) -> Completed:
    """Install the command's ``name=version`` packages, unless one of the versions is broken."""
    wanted = dict(w.split("=", 1) for w in shlex.split(command) if re.match(r"^[a-z0-9.+-]+=", w))
    if set(wanted.values()) & server.broken_install:
        return Completed(100, "", "E: Sub-process /usr/bin/dpkg returned an error code (1)")
    server.packages.update(wanted)
    return _DONE


def _remove(server: FakeServer, command: str) -> Completed:
    """Remove the named packages."""
    for name in shlex.split(command)[2:]:
        server.packages.pop(name, None)
    return _DONE


def _restart(server: FakeServer, command: str) -> Completed:
    """Every unit is active again."""
    for unit in server.units:
        server.units[unit] = "active"
    return _DONE


def _check(server: FakeServer, command: str) -> Completed:
    """``check VERSION``: whether the host runs that version only, and healthy."""
    version = (shlex.split(command)[1:] or [""])[0]  # none: the host runs nothing
    # The check names the upstream version: the packages' without the revision.
    installed = {v.rsplit("-", 1)[0] for v in server.packages.values()}
    ok = installed == {version} and server.healthy(version)
    return Completed(0 if ok else 1, "" if ok else f"unhealthy {version}", "")


def _append_record(server: FakeServer, command: str) -> Completed:
    """Append the command's record line to the host's records."""
    words = shlex.shlex(command.split("printf '%s\\n' ", 1)[1], posix=True, punctuation_chars=True)
    words.whitespace_split = True
    server.records.append(next(iter(words)))
    return _DONE


# What a fake server understands, in the order it tries: how to tell each command, and
# its answer. Anything else answers 127, as a shell would.
_ANSWERS: tuple[tuple[Callable[[str], bool], Callable[[FakeServer, str], Completed]], ...] = (
    (lambda c: c.startswith("dpkg-query"), _inspect),
    (lambda c: "if mkdir" in c, _take_lock),
    (lambda c: c.startswith("grep -qxF"), _release_lock),
    (lambda c: c.startswith("cat ") and "rm -rf" in c, _force_unlock),
    (lambda c: c.startswith("cat "), _read_lock),
    (lambda c: c.startswith(("set -e; umask 022", "parts=", "for attempt in")), _succeed),
    (lambda c: "apt-get install" in c, _install),
    (lambda c: c.startswith("dpkg --remove"), _remove),
    (lambda c: c.startswith("systemctl daemon-reload"), _restart),
    (lambda c: c.startswith("check "), _check),
    (lambda c: c.startswith("mkdir -p /var/lib/") and ">>" in c, _append_record),
)


class FakeShell:
    """A :class:`~orchestrator.deploy.hosts.HostShell` on a :class:`FakeServer`."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.where = server.name
        self.hung_up = False

    def run(
        self, command: str, *, timeout: float, stdin: bytes = b"", as_user: bool = False
    ) -> Completed:
        """Carry ``command`` out on the server (a fake server has one user)."""
        if self.hung_up:
            raise DeployError(f"{self.where}: the connection failed: hung up")
        if self.server.down:
            raise DeployError(f"{self.where}: the connection failed: no route to host")
        server = self.server
        server.on_command(command)
        with server.guard:
            server.commands.append(command)
            if server.lost_on is not None and server.lost_on in command:
                server.lost_on = None  # once: the revert reconnects
                raise DeployError(f"{self.where}: the connection failed: lost")
            return self._answer(command)

    def _answer(self, command: str) -> Completed:
        if command.startswith(_CHECKED):
            if not self.server.sudo:
                return Completed(1, "", f"{SUDO_REFUSED}\n{ROOT_REFUSED}")
            # The fake has one user: the command runs as the sudo in it would.
            return self._answer(shlex.split(command.removeprefix(_CHECKED))[-1])
        for understands, answer in _ANSWERS:
            if understands(command):
                return answer(self.server, command)
        return Completed(127, "", f"fake server: unknown command {command[:80]!r}")

    def hang_up(self) -> None:
        """End the connection."""
        self.hung_up = True

    def close(self) -> None:
        """Nothing to close."""
