"""SIGINT and SIGTERM during a release: stop the builds, clean up, exit 130 or 143.

The first signal stops the build stage (closing its SSH sessions, which hangs up the
remote builds) and raises :class:`Interrupted` in the main thread, so every ``finally``
runs: droplets destroyed, lock released, journal marked. Later signals only say that
cleanup is under way: a second Ctrl-C must not leave droplets behind.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from orchestrator.build import BuildStage


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; a BaseException so no ``except Exception`` swallows it."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signal_number).name}")
        self.signal_number = signal_number

    @property
    def exit_code(self) -> int:
        """128 + the signal number: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signal_number


class InterruptHandler:
    """Turns the first SIGINT/SIGTERM into :class:`Interrupted`; ignores the rest."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._stage: BuildStage | None = None

    def watch(self, stage: BuildStage) -> None:
        """Stop ``stage`` when a signal arrives."""
        self._stage = stage

    def handle(self, signal_number: int, _frame: FrameType | None) -> None:
        """The signal handler."""
        if self.received is not None:
            print(
                "still cleaning up: destroying droplets and releasing the lock",
                file=sys.stderr,
                flush=True,
            )
            return
        self.received = signal_number
        print(
            f"{signal.Signals(signal_number).name}: stopping builds, destroying droplets",
            file=sys.stderr,
            flush=True,
        )
        if self._stage is not None:
            self._stage.stop()
        raise Interrupted(signal_number)


@contextmanager
def handling_interrupts() -> Iterator[InterruptHandler]:
    """Install the handler for SIGINT and SIGTERM for the duration of the block."""
    handler = InterruptHandler()
    previous = {
        number: signal.signal(number, handler.handle) for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield handler
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
