from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.engine.liveness import Boot
from orchestrator.engine.locks import (
    LockDetails,
    LockWaiter,
    holding_directory_lock,
    is_abandoned,
    new_details,
    parse_details,
    read_directory_lock,
)
from orchestrator.errors import PublishError, RepositoryError

HOLDER = LockDetails(
    run_id="20261122t102900-a1b2c3",
    tag="v1.2.3",
    host="builder",
    pid=4242,
    started="987654",
    boot="boot-1",
    since="2026-11-22T10:29:00Z",
    token="t0k3n",
)
HERE = Boot("builder", "boot-1")


def test_details_round_trip_and_half_written_files() -> None:
    assert parse_details(HOLDER.render()) == HOLDER
    assert parse_details(HOLDER.render().split("pid=")[0]) is None
    assert parse_details("") is None
    assert "run 20261122t102900-a1b2c3 (v1.2.3) on builder, pid 4242" in HOLDER.describe()


def test_only_a_gone_process_on_this_machine_is_abandoned() -> None:
    assert is_abandoned(HOLDER, HERE, lambda pid: None)
    # The pid was reused by another process: it started at another time.
    assert is_abandoned(HOLDER, HERE, lambda pid: "1")
    assert not is_abandoned(HOLDER, HERE, lambda pid: "987654")
    assert not is_abandoned(HOLDER, Boot("elsewhere", "boot-1"), lambda pid: None)
    assert not is_abandoned(HOLDER, Boot("builder", "boot-2"), lambda pid: None)


class FakeLock:
    """A lock held by ``holder`` for ``busy`` attempts, on a fake clock."""

    def __init__(self, holder: LockDetails | None, busy: int) -> None:
        self.holder = holder
        self.busy = busy
        self.now = 0.0
        self.broken: list[str] = []
        self.lines: list[str] = []

    def attempt(self) -> str | None:
        if self.busy == 0:
            return None
        self.busy -= 1
        return "" if self.holder is None else self.holder.render()

    def waiter(self, alive: bool = True) -> LockWaiter:
        def sleep(seconds: float) -> None:
            self.now += seconds

        def break_lock(holder: LockDetails) -> None:
            self.broken.append(holder.token)
            self.busy = 0

        return LockWaiter(
            "repo server r",
            "invoke repo.unlock --force --target r",
            self.attempt,
            break_lock,
            self.lines.append,
            sleep=sleep,
            clock=lambda: self.now,
            machine=lambda: HERE,
            start_time=lambda pid: HOLDER.started if alive else None,
        )


def test_a_free_lock_is_taken_at_once() -> None:
    lock = FakeLock(HOLDER, 0)
    lock.waiter().acquire(10)
    assert (lock.now, lock.lines) == (0.0, [])


def test_a_busy_lock_is_waited_for() -> None:
    lock = FakeLock(HOLDER, 3)
    lock.waiter().acquire(10)
    assert lock.now == 1.5
    assert lock.lines == [
        "repo server r: waiting up to 10s for the lock held by " + HOLDER.describe()
    ]


def test_waiting_gives_up_naming_the_holder() -> None:
    lock = FakeLock(HOLDER, 1000)
    with pytest.raises(PublishError) as caught:
        lock.waiter().acquire(2)
    message = str(caught.value)
    assert "repo server r is locked by run 20261122t102900-a1b2c3 (v1.2.3) on builder" in message
    assert "gave up after 2s" in message and "invoke repo.unlock --force --target r" in message
    assert lock.now == 2.0


def test_an_unreadable_holder_is_waited_for_too() -> None:
    lock = FakeLock(None, 1000)
    with pytest.raises(PublishError, match="a run \\(details unreadable\\)"):
        lock.waiter().acquire(0)


def test_an_abandoned_lock_is_broken() -> None:
    lock = FakeLock(replace(HOLDER, token="old"), 1000)
    lock.waiter(alive=False).acquire(0)
    assert lock.broken == ["old"]
    assert "that process is gone" in lock.lines[0]


def _take(path: Path, wait: float = 0.0) -> contextlib.AbstractContextManager[None]:
    return holding_directory_lock(
        path, new_details("20261201t000000-abcdef", "v1.2.3", datetime.now(UTC)),
        where="the tree", force="rm -r it", wait=wait, say=lambda line: None,
        error=RepositoryError,
    )  # fmt: skip


def test_a_directory_lock_never_appears_without_its_holder(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    # What a run killed between its mkdir and its details left before: a lock naming
    # nobody, which made every later run give up on "details unreadable".
    lock.mkdir()
    with _take(lock):
        held = read_directory_lock(lock)
        assert held is not None and held.run_id == "20261201t000000-abcdef"
        # A second taker sees the holder, never an empty lock, and nothing is left aside.
        with (
            pytest.raises(RepositoryError, match="locked by run 20261201t000000-abcdef"),
            _take(lock),
        ):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == []
