"""Saying what a long wait waits for: a spinner on a terminal, a line per step in a log.

A step that can take more than a couple of seconds (booting a server, building an image,
starting a daemon) runs inside :func:`waiting_for`, so a user never stares at a silent
screen: on a terminal a spinner names the step and counts the seconds, and leaves one
line when it ends; in a log (CI), one line when the step starts and one when it ends.
Lines go to standard error, which carries progress for every task (standard output may
be a JSON summary).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TextIO


def _stamp() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S")


@contextlib.contextmanager
def _shown(what: str, out: TextIO) -> Iterator[Callable[[str], None]]:
    """Show that ``what`` is under way; yield how to say its last line."""
    if not out.isatty():
        print(f"{_stamp()} {what} ...", file=out, flush=True)
        yield lambda line: print(f"{_stamp()} {line}", file=out, flush=True)
        return
    # rich is imported for a terminal only, not by every task that may wait (start-up).
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(file=out)
    spinner = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=console, transient=True,
    )  # fmt: skip
    with spinner:
        spinner.add_task(what, total=None)
        yield console.print


@contextlib.contextmanager
def waiting_for(what: str, stream: TextIO | None = None) -> Iterator[None]:
    """Say that ``what`` is under way, then how it ended and how long it took."""
    started = time.monotonic()
    outcome = "interrupted"
    with _shown(what, stream or sys.stderr) as say:
        try:
            yield
            outcome = "done"
        except Exception:
            outcome = "failed"
            raise
        finally:
            say(f"{what}: {outcome} in {time.monotonic() - started:.1f}s")


# How long a step may run before it is said to be under way.
SLOW_AFTER = 2.0


class SlowSteps:
    """Says a step that runs longer than :data:`SLOW_AFTER` seconds, once, while it runs.

    A run that says each step as it ends (a deploy's hosts, a release's run-wide
    operations) is silent during a long one: this says the step is under way once it
    has taken a while. Steps start and end on any thread.
    """

    def __init__(self, say: Callable[[str], None], after: float = SLOW_AFTER) -> None:
        self._say = say
        self._after = after
        self._timers: dict[tuple[str, str], threading.Timer] = {}
        self._lock = threading.Lock()

    def started(self, where: str, step: str) -> None:
        """``step`` began on ``where``: say it if it is still running after a while."""
        timer = threading.Timer(self._after, self._say, [f"{where}: {step} under way ..."])
        timer.daemon = True
        with self._lock:
            self._timers[where, step] = timer
        timer.start()

    def ended(self, where: str, step: str) -> None:
        """``step`` ended on ``where``: nothing more to say about it here."""
        with self._lock:
            timer = self._timers.pop((where, step), None)
        if timer is not None:
            timer.cancel()

    def close(self) -> None:
        """Say nothing more about any step."""
        with self._lock:
            timers, self._timers = list(self._timers.values()), {}
        for timer in timers:
            timer.cancel()
