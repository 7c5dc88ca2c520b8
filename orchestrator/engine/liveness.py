"""Whether a process that left something behind (a lock, a temporary keyring) still runs.

A process is named by the machine it ran on (host name and boot id) and by its pid with
the pid's start time, so a pid that the kernel handed to another process since is not
mistaken for it. Only a process of this machine, since its last boot, can be proven gone.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.engine.keyvalue import parse_fields, render_fields

_FIELDS = ("host", "boot", "pid", "started")


@dataclass(frozen=True)
class Boot:
    """A machine since its last boot: host name and boot id."""

    host: str
    boot: str


def this_boot() -> Boot:
    """The host name and boot id of this machine."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = "unknown"
    return Boot(socket.gethostname(), boot)


def process_start_time(pid: int) -> str | None:
    """The start time of a live process in clock ticks since boot, from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    # After the command name: state is field 3, starttime is field 22.
    return fields[19] if fields[0] not in ("Z", "X") else None


@dataclass(frozen=True)
class Owner:
    """The process that made something: where it ran, its pid and the pid's start time."""

    host: str
    boot: str
    pid: int
    started: str

    def render(self) -> str:
        """One ``key=value`` line per field."""
        return render_fields({name: getattr(self, name) for name in _FIELDS})

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        """Parse :meth:`render`'s text; None if it is incomplete."""
        try:
            values = parse_fields(text, _FIELDS)
            pid = int(values["pid"])
        except ValueError:
            return None
        return cls(values["host"], values["boot"], pid, values["started"])

    def is_gone(
        self,
        here: Boot,
        start_time: Callable[[int], str | None] = process_start_time,
    ) -> bool:
        """Whether this process ran on this machine, since its last boot, and has ended."""
        if (self.host, self.boot) != (here.host, here.boot):
            return False
        return start_time(self.pid) != self.started


def this_process() -> Owner:
    """The calling process as an :class:`Owner`."""
    boot = this_boot()
    pid = os.getpid()
    return Owner(boot.host, boot.boot, pid, process_start_time(pid) or "unknown")
