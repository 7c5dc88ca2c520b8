"""What a release run did, as data: the final summary, the --json output and the report.

A run (:mod:`orchestrator.release.run`) fills a :class:`RunSummary`; ``--json`` prints
:meth:`RunSummary.to_json`, the terminal shows :func:`summary_text`, and the HTML report
renders the same object.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

RunStatus = Literal["published", "built", "failed", "interrupted", "already-published"]
TargetStatus = Literal["succeeded", "failed", "cancelled", "reused"]
# The tests: passed or failed; skipped by --skip-tests; none in the inventory; not-run when
# the run ended before them (the version was published already, an earlier step failed);
# cancelled when a signal stopped them.
TestsStatus = Literal["passed", "failed", "skipped", "none", "not-run", "cancelled"]


@dataclass(frozen=True)
class TargetSummary:
    """One target of a run."""

    name: str
    arch: str
    format: str
    status: TargetStatus
    seconds: float
    droplet_seconds: float
    cost: float
    artifacts: tuple[str, ...]
    # Operation name ("provision", "build", "fetch"...) -> (start, end), epoch seconds.
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)
    error: str | None = None
    log: str | None = None
    # The last lines of the build's log, when it failed.
    log_tail: tuple[str, ...] = ()


@dataclass(frozen=True)
class GateSummary:
    """The tests of a run, when they ran: how long, what their machine cost, why they failed."""

    commands: tuple[str, ...]
    seconds: float
    droplet_seconds: float
    cost: float
    # Operation name ("provision", "test", "destroy"...) -> (start, end), epoch seconds.
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)
    error: str | None = None
    log: str | None = None
    # The last lines of the tests' log, when they failed.
    log_tail: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishedSummary:
    """Where a run's repository was published."""

    name: str
    url: str
    key_url: str
    snapshot: str | None = None


@dataclass(frozen=True)
class ImageSummary:
    """An image target's image in the registry: the tag, what it names, the target's platform.

    ``digest`` is the index the tag names (``reference@digest`` pins every platform);
    ``platform_digest`` the manifest of the target's own platform in it.
    """

    target: str
    reference: str
    digest: str
    platform: str = ""
    platform_digest: str = ""


@dataclass(frozen=True)
class PythonSummary:
    """A Python distribution on the index: whether this run uploaded it, or found it there."""

    target: str
    file: str
    sha256: str
    index: str
    uploaded: bool


@dataclass(frozen=True)
class RunSummary:
    """A whole run, from the first stage to the last."""

    run_id: str
    project: str
    tag: str
    # What was built: the ref asked for (the tag, or a nightly's branch or HEAD), its commit.
    ref: str
    commit: str
    version: str
    channel: str
    status: RunStatus
    exit_code: int
    started_at: float
    finished_at: float
    targets: tuple[TargetSummary, ...] = ()
    # How the tests went, and (when they ran) their details.
    tests: TestsStatus = "none"
    gate: GateSummary | None = None
    published: tuple[PublishedSummary, ...] = ()
    images: tuple[ImageSummary, ...] = ()
    python: tuple[PythonSummary, ...] = ()
    messages: tuple[str, ...] = ()
    report: str | None = None
    # Run-wide operation name ("lock", "index", "publish <target>"...) -> (start, end).
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Wall time of the run."""
        return self.finished_at - self.started_at

    @property
    def droplet_seconds(self) -> float:
        """Droplet lifetime summed over the tests and the targets: what the run is billed for."""
        tests = self.gate.droplet_seconds if self.gate is not None else 0.0
        return tests + sum(t.droplet_seconds for t in self.targets)

    @property
    def cost(self) -> float:
        """Estimated cost in USD, from each droplet size's hourly price."""
        return (self.gate.cost if self.gate is not None else 0.0) + sum(
            t.cost for t in self.targets
        )

    def to_json(self) -> dict[str, Any]:
        """The machine-readable summary printed by ``--json``."""
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["droplet_seconds"] = round(self.droplet_seconds, 3)
        data["cost"] = round(self.cost, 6)
        data["started_at"] = _iso(self.started_at)
        data["finished_at"] = _iso(self.finished_at)
        return data


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def summary_text(summary: RunSummary) -> str:
    """The final summary for the terminal: targets, durations, cost, URLs, messages."""
    lines = [
        f"{summary.ref} -> {summary.version} ({summary.channel}): {summary.status} "
        f"in {summary.seconds:.1f}s, run {summary.run_id}",
        f"  built from commit {summary.commit}",
        *_tests_lines(summary),
    ]
    for target in summary.targets:
        lines.append(
            f"  {target.name:<12} {target.status:<10} {target.seconds:7.1f}s  "
            f"droplet {target.droplet_seconds:7.1f}s  ${target.cost:.4f}  {len(target.artifacts)} artifact(s)"
        )
        if target.error:
            lines.append(f"    {target.error}")
        if target.log_tail:
            lines.append(f"    last lines of {target.log or 'its log'}:")
            lines.extend(f"      | {line}" for line in target.log_tail)
    lines.append(
        f"  droplet-seconds {summary.droplet_seconds:.1f}, estimated cost ${summary.cost:.4f}"
    )
    for published in summary.published:
        lines.append(f"  published to {published.name}: {published.url} (key {published.key_url})")
    lines.extend(f"  {message}" for message in summary.messages)
    if summary.report:
        lines.append(f"  report: {summary.report}")
    return "\n".join(lines)


def _tests_lines(summary: RunSummary) -> list[str]:
    """How the tests went: their line and, when they failed, why and their log's last lines."""
    gate = summary.gate
    if gate is None:
        return {
            "skipped": ["  tests: skipped (--skip-tests)"],
            "not-run": ["  tests: not run"],
        }.get(summary.tests, [])
    lines = [
        f"  {'tests':<12} {summary.tests:<10} {gate.seconds:7.1f}s  "
        f"droplet {gate.droplet_seconds:7.1f}s  ${gate.cost:.4f}  {'; '.join(gate.commands)}"
    ]
    if gate.error:
        lines.append(f"    {gate.error}")
    if gate.log_tail:
        lines.append(f"    last lines of {gate.log or 'its log'}:")
        lines.extend(f"      | {line}" for line in gate.log_tail)
    return lines
