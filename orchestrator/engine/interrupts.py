"""SIGINT and SIGTERM during a release: stop the builds, clean up, exit 130 or 143.

The first signal stops the run (its targets are hung up) and raises :class:`Interrupted`
in the main thread, so every ``finally`` runs. Later signals only say that cleanup is
under way. While a cleanup runs (:meth:`InterruptHandler.deferred`: destroying droplets,
releasing locks, wiping a keyring) a signal is noted, not raised: it is raised once the
cleanup is done, so a Ctrl-C never leaves droplets or a key behind.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Protocol


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; a BaseException so no ``except Exception`` swallows it."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signal_number).name}")
        self.signal_number = signal_number

    @property
    def exit_code(self) -> int:
        """128 + the signal number: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signal_number


class Stoppable(Protocol):
    """What a signal stops (the executor)."""

    def stop(self) -> None:
        """Stop at once, from a signal handler."""


class InterruptHandler:
    """Turns the first SIGINT/SIGTERM into :class:`Interrupted`; holds it during cleanups."""

    def __init__(
        self,
        stopping: str = "stopping builds, destroying droplets",
        cleaning: str = "destroying droplets and releasing the lock",
    ) -> None:
        self.stopping = stopping
        self.cleaning = cleaning
        self.received: int | None = None
        self._watched: Stoppable | None = None
        self._deferring = 0
        self._pending = False

    def watch(self, stoppable: Stoppable) -> None:
        """Stop ``stoppable`` when a signal arrives."""
        self._watched = stoppable

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold signals back during the block; raise the one that came once it is done."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if not self._deferring and self._pending and self.received is not None:
            self._pending = False
            raise Interrupted(self.received)

    def handle(self, signal_number: int, _frame: FrameType | None) -> None:
        """The signal handler."""
        if self.received is not None:
            print(f"still cleaning up: {self.cleaning}", file=sys.stderr, flush=True)
            return
        self.received = signal_number
        print(f"{signal.Signals(signal_number).name}: {self.stopping}", file=sys.stderr, flush=True)
        if self._deferring:
            # A cleanup runs (destroying droplets, putting hosts back): stopping now would
            # hang up the very sessions it uses. The signal is raised once it is done.
            self._pending = True
            return
        if self._watched is not None:
            self._watched.stop()
        raise Interrupted(signal_number)


@contextmanager
def handling_interrupts(
    stopping: str = "stopping builds, destroying droplets",
    cleaning: str = "destroying droplets and releasing the lock",
) -> Iterator[InterruptHandler]:
    """Install the handler for SIGINT and SIGTERM for the duration of the block.

    ``stopping`` and ``cleaning`` say what the first signal and a second one set off.
    """
    handler = InterruptHandler(stopping, cleaning)
    previous = {
        number: signal.signal(number, handler.handle) for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield handler
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
