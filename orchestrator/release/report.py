"""The HTML report of a run: one self-contained page rendered from a :class:`RunSummary`.

The page has no scripts and fetches nothing, so it can be opened from a CI artifact or
mailed around. The timeline is laid out here, in Python, as CSS percentages: that keeps
the template dumb and the geometry unit-testable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from orchestrator.engine.atomic import write_atomically
from orchestrator.release.summary import RunSummary, TargetStatus, TestsStatus
from orchestrator.templatefiles import templates_environment

TEMPLATE = "report.html.j2"
# The colours of the timeline: each operation of a target's (or the tests') program is
# drawn as one of these stages; run-wide operations (the lock, the index, each publish...)
# as "run".
STAGES = ("run", "provision", "build", "test", "collect")
STAGE_OF = {
    "test": "test",
    "provision": "provision",
    "prepare": "build",
    "upload": "build",
    "unpack": "build",
    "build": "build",
    "collect": "collect",
    "fetch": "collect",
}
# The run-wide row of the timeline.
RUN_ROW = "run"
# Below this share of the axis a duration printed inside a segment would not fit.
LABEL_MIN_PERCENT = 12.0
# Round numbers of seconds for axis ticks; the first one giving at most MAX_TICKS wins.
TICK_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200)
MAX_TICKS = 8
# Links the report may emit: anything else (javascript:, data:) is shown as text only.
SAFE_SCHEMES = ("http", "https", "file")


@dataclass(frozen=True)
class Segment:
    """One stage of a target, positioned inside its bar."""

    stage: str
    # CSS colour class: the stage itself, or "other" for a stage the legend does not know.
    kind: str
    start: float  # seconds after the run started
    end: float
    left: float  # percent of the bar
    width: float  # percent of the bar
    labelled: bool  # wide enough to print its duration inside

    @property
    def seconds(self) -> float:
        """How long the stage took."""
        return self.end - self.start


@dataclass(frozen=True)
class Bar:
    """A target's whole life on the timeline, from its first stage to its last."""

    start: float  # seconds after the run started
    end: float
    left: float  # percent of the axis
    width: float  # percent of the axis
    segments: tuple[Segment, ...]

    @property
    def seconds(self) -> float:
        """How long the target was alive."""
        return self.end - self.start


@dataclass(frozen=True)
class TimelineRow:
    """One target on the timeline; ``bar`` is None when it never started a stage."""

    target: str
    status: TargetStatus
    bar: Bar | None


@dataclass(frozen=True)
class Tick:
    """A labelled mark on the time axis."""

    seconds: float
    position: float  # percent of the axis
    label: str


def _axis(summary: RunSummary) -> tuple[float, float]:
    """The axis origin (the run's start) and its length in seconds.

    The axis ends at the run's finish, or later if a span ends after it (a summary
    written before the last droplet was confirmed gone), so no bar overflows.
    """
    ends = [end for target in summary.targets for _, end in target.spans.values()]
    ends += [end for _, end in summary.spans.values()]
    ends += [end for _, end in summary.gate.spans.values()] if summary.gate else []
    length = max([summary.finished_at, *ends]) - summary.started_at
    # A zero-length run would divide by zero; any positive length draws it the same.
    return summary.started_at, length if length > 0 else 1.0


def _percent(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 3) if whole > 0 else 0.0


def _run_status(summary: RunSummary) -> TargetStatus:
    if summary.status == "failed":
        return "failed"
    return "cancelled" if summary.status == "interrupted" else "succeeded"


# The tests' row of the timeline is drawn as a target's: passed as succeeded.
_TESTS_ROW: dict[TestsStatus, TargetStatus] = {"passed": "succeeded", "failed": "failed"}


def _tests_row_status(status: TestsStatus) -> TargetStatus:
    return _TESTS_ROW.get(status, "cancelled")


def timeline_rows(summary: RunSummary) -> list[TimelineRow]:
    """The run-wide row, the tests', then one row per target: bars and segments as percentages."""
    origin, length = _axis(summary)
    rows = []
    programs = [(RUN_ROW, _run_status(summary), summary.spans, True)]
    if summary.gate is not None:
        programs.append(("tests", _tests_row_status(summary.tests), summary.gate.spans, False))
    programs += [(t.name, t.status, t.spans, False) for t in summary.targets]
    for name, status, program_spans, run_wide in programs:
        # Clamp to the axis: clocks of a run's threads can disagree by a few milliseconds.
        spans = sorted(
            (max(start - origin, 0.0), max(end - origin, start - origin, 0.0), stage)
            for stage, (start, end) in program_spans.items()
        )
        if not spans:
            if not run_wide:
                rows.append(TimelineRow(name, status, None))
            continue
        bar_start = spans[0][0]
        bar_end = max(end for _, end, _ in spans)
        bar_seconds = bar_end - bar_start
        segments = tuple(
            Segment(
                stage=stage,
                kind="run" if run_wide else STAGE_OF.get(stage, "other"),
                start=start,
                end=end,
                left=_percent(start - bar_start, bar_seconds),
                width=_percent(end - start, bar_seconds),
                labelled=_percent(end - start, length) >= LABEL_MIN_PERCENT,
            )
            for start, end, stage in spans
        )
        bar = Bar(
            start=bar_start,
            end=bar_end,
            left=_percent(bar_start, length),
            width=_percent(bar_seconds, length),
            segments=segments,
        )
        rows.append(TimelineRow(name, status, bar))
    return rows


def axis_ticks(summary: RunSummary) -> list[Tick]:
    """Round-numbered ticks from 0 to the end of the run's axis, at most ``MAX_TICKS`` + 1."""
    _, length = _axis(summary)
    step = next((s for s in TICK_STEPS if length / s <= MAX_TICKS), None)
    if step is None:
        step = TICK_STEPS[-1] * (int(length / (TICK_STEPS[-1] * MAX_TICKS)) + 1)
    count = int(length // step)
    return [
        Tick(float(i * step), _percent(i * step, length), _tick_label(i * step, step))
        for i in range(count + 1)
    ]


def _tick_label(seconds: int, step: int) -> str:
    if seconds == 0:
        return "0 s"
    if step % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def duration(seconds: float) -> str:
    """A duration for people: ``4.2 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def utc(epoch: float) -> str:
    """An epoch time as ``2026-11-22 10:30:05 UTC``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def usd(amount: float) -> str:
    """An estimated cost; four decimals because a short droplet costs fractions of a cent."""
    return f"${amount:.4f}"


def safe_href(url: str) -> str | None:
    """``url`` if a link to it is harmless (http, https, file or a path), else None."""
    scheme = urlsplit(url).scheme.lower()
    return url if scheme in SAFE_SCHEMES or scheme == "" else None


def log_href(log: str, report_dir: Path | None) -> str | None:
    """The link to a target's log as seen from a report in ``report_dir``.

    A relative log path is relative to the working directory; it is rewritten relative
    to the report so the link still works when ``reports/`` and ``logs/`` are copied
    together (a CI artifact). An absolute path becomes a ``file://`` URL.
    """
    if urlsplit(log).scheme:
        return safe_href(log)
    path = Path(log)
    if path.is_absolute():
        return path.as_uri()
    if report_dir is None:
        return path.as_posix()
    return Path(os.path.relpath(path.resolve(), report_dir.resolve())).as_posix()


def _legend(rows: list[TimelineRow]) -> list[str]:
    kinds = {segment.kind for row in rows if row.bar for segment in row.bar.segments}
    return [kind for kind in (*STAGES, "other") if kind in kinds]


def render_report(summary: RunSummary, report_dir: Path | None = None) -> str:
    """The report as one HTML page; ``report_dir`` (where it will live) anchors log links."""
    environment = templates_environment()
    environment.filters.update(duration=duration, utc=utc, usd=usd)
    rows = timeline_rows(summary)
    _, length = _axis(summary)
    return environment.get_template(TEMPLATE).render(
        summary=summary,
        rows=rows,
        ticks=axis_ticks(summary),
        axis_seconds=length,
        legend=_legend(rows),
        logs={
            target.name: log_href(target.log, report_dir)
            for target in summary.targets
            if target.log
        },
        tests_log=log_href(summary.gate.log, report_dir)
        if summary.gate is not None and summary.gate.log
        else None,
        safe_href=safe_href,
    )


def write_report(summary: RunSummary, path: Path) -> Path:
    """Write the report to ``path`` atomically (a reader never sees half a page)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page = render_report(summary, path.parent)
    write_atomically(path, page, durable=True)
    return path
