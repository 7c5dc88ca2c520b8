"""Progress of the targets of a run: a live table on a terminal, one line per event in CI.

The build stage reports ``(target, stage, detail)`` events from many threads; a reporter
turns them into a rich live view with one line per target (stage and elapsed time), or,
when stdout is not a terminal, into plain timestamped lines that read well in CI logs.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


FINAL_STAGES = {"done", "failed", "cancelled"}


class Progress(Protocol):
    """Something that shows target progress."""

    def update(self, target: str, stage: str, detail: str = "") -> None:
        """Record that ``target`` entered ``stage``."""

    def close(self) -> None:
        """Stop showing progress (the live view is replaced by its final state)."""


class PlainProgress:
    """One line per event, for CI logs and pipes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}

    def update(self, target: str, stage: str, detail: str = "") -> None:
        """Print ``time target: stage (elapsed) detail`` on one line."""
        now = time.monotonic()
        with self._lock:
            started = self._started.setdefault(target, now)
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            suffix = f" {detail}" if detail else ""
            print(
                f"{stamp} {target}: {stage} [{now - started:.1f}s]{suffix}",
                file=self._stream,
                flush=True,
            )

    def close(self) -> None:
        """Nothing to tear down."""


class LiveProgress:
    """A rich live table: one row per target with its stage and elapsed time."""

    def __init__(self, targets: Sequence[str], console: Console | None = None) -> None:
        from rich.live import Live  # rich loads for a terminal only (see progress_for)

        self._lock = threading.Lock()
        self._rows: dict[str, tuple[str, str, float, float | None]] = {
            target: ("queued", "", time.monotonic(), None) for target in targets
        }
        self._live = Live(self._table(), console=console, refresh_per_second=4, transient=False)
        self._live.start()

    def _table(self) -> Table:
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        table.add_column("target", style="bold")
        table.add_column("stage")
        table.add_column("elapsed", justify="right")
        table.add_column("")
        now = time.monotonic()
        for target, (stage, detail, started, ended) in self._rows.items():
            style = {"done": "green", "failed": "red", "cancelled": "yellow"}.get(stage, "cyan")
            elapsed = (ended or now) - started
            table.add_row(target, f"[{style}]{stage}[/]", f"{elapsed:.0f}s", detail)
        return table

    def update(self, target: str, stage: str, detail: str = "") -> None:
        """Move ``target``'s row to ``stage``."""
        with self._lock:
            _, _, started, _ = self._rows.get(target, ("", "", time.monotonic(), None))
            ended = time.monotonic() if stage in FINAL_STAGES else None
            self._rows[target] = (stage, detail, started, ended)
            self._live.update(self._table())

    def close(self) -> None:
        """Render the final state and stop refreshing."""
        with self._lock:
            self._live.update(self._table())
            self._live.stop()


def progress_for(targets: Sequence[str], stream: TextIO | None = None) -> Progress:
    """A live view when ``stream`` (stdout by default) is a terminal, plain lines otherwise."""
    out = stream or sys.stdout
    if out.isatty():
        # rich is imported here, not at the top: a task that never shows a live view (and
        # CI, which has no terminal) does not pay for it.
        from rich.console import Console

        return LiveProgress(targets, Console(file=out))
    return PlainProgress(out)
