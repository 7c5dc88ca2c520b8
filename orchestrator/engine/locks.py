"""Locks: who holds one, whether the holder is provably gone, and waiting for it.

Every lock of the tool works alike. It is taken atomically where the thing it guards
lives (``mkdir`` on a repo server or in the workspace, a conditional PUT in a bucket) and
carries a small details file naming its holder. A second taker waits for it; a holder that
ran on this machine and whose process is gone (a run that was killed) is broken at once,
since it can never release the lock itself. A holder elsewhere is only broken by hand
(``--force``). The publish locks guard a target; the release lock (the workspace) and the
tree lock (the local repository tree) are :func:`holding_directory_lock`.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.engine.atomic import write_atomically
from orchestrator.engine.keyvalue import parse_fields, render_fields
from orchestrator.engine.liveness import Boot, Owner, process_start_time, this_boot, this_process
from orchestrator.errors import OrchestratorError, PublishError

POLL_INTERVAL = 0.5
_FIELDS = ("run_id", "tag", "host", "pid", "started", "boot", "since", "token")


@dataclass(frozen=True)
class LockDetails:
    """The holder of a lock, as written into its details file."""

    run_id: str
    tag: str
    host: str
    pid: int
    started: str
    boot: str
    since: str
    token: str

    def render(self) -> str:
        """The details file: one ``key=value`` line per field."""
        return render_fields({name: getattr(self, name) for name in _FIELDS})

    def describe(self) -> str:
        """The holder in words, for error messages."""
        tag = f" ({self.tag})" if self.tag else ""
        return f"run {self.run_id}{tag} on {self.host}, pid {self.pid}, since {self.since}"


def parse_details(text: str) -> LockDetails | None:
    """Parse a details file; None if it is missing, half-written or not ours."""
    try:
        values = parse_fields(text, _FIELDS)
        pid = int(values["pid"])
    except ValueError:
        return None
    return LockDetails(
        run_id=values["run_id"],
        tag=values["tag"],
        host=values["host"],
        pid=pid,
        started=values["started"],
        boot=values["boot"],
        since=values["since"],
        token=values["token"],
    )


def is_abandoned(holder: LockDetails, here: Boot, start_time: Callable[[int], str | None]) -> bool:
    """Whether the holder ran on this machine, since its last boot, and its process is gone.

    ``start_time(pid)`` gives a live process's start time (None when there is none), so a
    reused pid is not mistaken for the holder.
    """
    owner = Owner(holder.host, holder.boot, holder.pid, holder.started)
    return owner.is_gone(here, start_time)


def new_details(run_id: str, tag: str, now: datetime) -> LockDetails:
    """Details naming this process as the holder, with a fresh token."""
    owner = this_process()
    return LockDetails(
        run_id=run_id,
        tag=tag,
        host=owner.host,
        pid=owner.pid,
        started=owner.started,
        boot=owner.boot,
        since=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        token=os.urandom(8).hex(),
    )


@dataclass
class LockWaiter:
    """Tries to take a lock until it is free or the wait is over.

    ``where`` describes the lock's place in messages; ``force`` is the command that breaks
    it by hand.

    ``attempt()`` takes the lock and returns None, or returns the text of the holder's
    details file (empty when it cannot be read). ``break_lock(holder)`` removes an
    abandoned lock if it is still that holder's.
    """

    where: str
    force: str
    attempt: Callable[[], str | None]
    break_lock: Callable[[LockDetails], None]
    say: Callable[[str], None]
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    machine: Callable[[], Boot] = this_boot
    start_time: Callable[[int], str | None] = process_start_time

    def acquire(self, wait: float, error: type[OrchestratorError] = PublishError) -> None:
        """Take the lock, waiting up to ``wait`` seconds; ``error`` naming the holder."""
        deadline = self.clock() + wait
        announced = False
        while True:
            held = self.attempt()
            if held is None:
                return
            holder = parse_details(held)
            if holder is not None and is_abandoned(holder, self.machine(), self.start_time):
                self.say(
                    f"{self.where}: breaking the lock of {holder.describe()}: that process is gone"
                )
                self.break_lock(holder)
                continue
            who = holder.describe() if holder is not None else "a run (details unreadable)"
            if self.clock() >= deadline:
                raise error(
                    f"{self.where} is locked by {who}; gave up after {wait:g}s. Wait for it "
                    f"to finish, or if it is not running any more: {self.force}"
                )
            if not announced:
                self.say(f"{self.where}: waiting up to {wait:g}s for the lock held by {who}")
                announced = True
            self.sleep(min(POLL_INTERVAL, max(0.0, deadline - self.clock())))


DETAILS = "details"


def _read_details(path: Path) -> str:
    try:
        return (path / DETAILS).read_text(encoding="utf-8")
    except OSError:
        return ""


def read_directory_lock(path: Path) -> LockDetails | None:
    """The holder of the directory lock at ``path``; None when it is free or unreadable."""
    return parse_details(_read_details(path)) if path.is_dir() else None


def break_directory_lock(path: Path) -> str | None:
    """Remove the directory lock at ``path`` whoever holds it; the details it had, if any."""
    if not path.is_dir():
        return None
    held = _read_details(path)
    shutil.rmtree(path, ignore_errors=True)
    return held


@contextmanager
def holding_directory_lock(
    path: Path,
    details: LockDetails,
    *,
    where: str,
    force: str,
    wait: float,
    say: Callable[[str], None],
    error: type[OrchestratorError],
) -> Iterator[None]:
    """Hold the lock that is the directory ``path`` (``mkdir``, then a details file).

    A holder on this machine whose process is gone is broken; otherwise ``error`` names the
    holder once ``wait`` seconds passed. Released on every way out, if still this holder's.
    """

    def attempt() -> str | None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The lock appears with its holder in it: made aside, then renamed into place
        # (which fails onto a lock that has a holder), so no reader, and no run killed
        # half-way, ever sees a lock that names nobody.
        staged = path.parent / f".{path.name}.{details.token}"
        staged.mkdir()
        try:
            write_atomically(staged / DETAILS, details.render())
            try:
                os.rename(staged, path)
            except OSError:  # ENOTEMPTY: a holder has it
                return _read_details(path)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        return None

    def break_lock(holder: LockDetails) -> None:
        current = read_directory_lock(path)
        if current is not None and current.token == holder.token:
            shutil.rmtree(path, ignore_errors=True)

    LockWaiter(where, force, attempt, break_lock, say).acquire(wait, error)
    try:
        yield
    finally:
        current = read_directory_lock(path)
        if current is None or current.token == details.token:
            shutil.rmtree(path, ignore_errors=True)
