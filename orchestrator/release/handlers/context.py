"""What a release's handlers share: the run, its files, and what its operations leave behind.

Each family's handlers (:mod:`orchestrator.release.handlers`) receive one
:class:`ReleaseContext`: one operation leaves here what a later one needs (the signer the
index signs with, the working copy a publish sends, the manifests an index names), and
the summary reads what the run did (each target's run, what was published and pushed,
the messages, what the cleanup released).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.cloud.buildhosts import Released
from orchestrator.config.inventory import Inventory
from orchestrator.engine.progress import Progress
from orchestrator.images.index import PlatformManifest
from orchestrator.images.registry import Registry
from orchestrator.publish.info import PublishedTo, Say
from orchestrator.publish.target import PublishTarget
from orchestrator.pyindex.index import PythonIndex
from orchestrator.release.artifacts import Artifact
from orchestrator.release.handlers.machines import Machines
from orchestrator.release.journal import Journal
from orchestrator.release.plan import Plan
from orchestrator.release.seams import Seams
from orchestrator.release.summary import ImageSummary, PythonSummary
from orchestrator.repo.signing import SigningKey
from orchestrator.repo.working import WorkingCopy


@dataclass(frozen=True)
class RunPaths:
    """Where one run keeps its files."""

    workspace: Path
    run_id: str

    @property
    def run_dir(self) -> Path:
        """Journal, source archive, verified artifacts and the working copy of the tree."""
        return self.workspace / ".orchestrator" / "runs" / self.run_id

    @property
    def log_dir(self) -> Path:
        """One build log per target, and the hooks' log."""
        return self.workspace / "logs" / self.run_id

    @property
    def report(self) -> Path:
        """The HTML report."""
        return self.workspace / "reports" / f"{self.run_id}.html"

    @property
    def repository(self) -> Path:
        """The local repository tree every release adds to."""
        return self.workspace / ".orchestrator" / "repository"


@dataclass
class TargetRun:
    """What a target's program (or the tests') produced, for the summary."""

    artifacts: tuple[Artifact, ...] = ()
    log_path: Path | None = None
    log_tail: tuple[str, ...] = ()
    requested_at: float | None = None
    released_at: float | None = None
    price_hourly: float = 0.0

    def machine_seconds(self, until: float) -> float:
        """How long its droplet existed (0 for a static host); one still alive, until ``until``."""
        if self.requested_at is None or not self.price_hourly:
            return 0.0
        return (self.released_at or until) - self.requested_at


@dataclass
class ReleaseContext:
    """One release run as its handlers see it; the executor's threads share it."""

    inventory: Inventory
    plan: Plan
    seams: Seams
    journal: Journal
    progress: Progress
    say: Say
    paths: RunPaths
    # What each target's program produced (reused artifacts from the start), and the tests'.
    runs: dict[str, TargetRun]
    # --force: publish (and build) a version every target serves already.
    force: bool = False
    # The build hosts and the targets' sessions.
    machines: Machines = field(default_factory=Machines)
    # What is held to the end of the run: the release lock, the key, the tree's lock.
    resources: ExitStack = field(default_factory=ExitStack)
    signer: SigningKey | None = None
    # The publish targets, by name, once read.
    targets: dict[str, PublishTarget] = field(default_factory=dict)
    # The copy of the local tree the packages are indexed in, until it is kept or dropped.
    working: WorkingCopy | None = None
    published: list[PublishedTo] = field(default_factory=list)
    image_registry: Registry | None = None
    # An image a dead run pushed may be pushed over only while no repository serves the
    # version (see orchestrator.release.handlers.images).
    repositories_serve_version: bool = True
    # Each image target's manifest, pushed by digest for its repository's index.
    platforms: dict[str, PlatformManifest] = field(default_factory=dict)
    # Repository -> the digest of the index its version tag names, read back.
    indexes: dict[str, str] = field(default_factory=dict)
    images: list[ImageSummary] = field(default_factory=list)
    python_index: PythonIndex | None = None
    # Whether the publish check found the release's distributions on the index.
    python_served: bool = False
    # Why the publish check could not read the index, if it could not.
    python_unread: str | None = None
    # With the builds skipped: the verified Python distributions of the run that put the
    # version in the local tree, by target.
    earlier_python: list[tuple[str, Artifact]] = field(default_factory=list)
    python: list[PythonSummary] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    # What letting the machines go achieved (the cleanup's).
    released: Released = field(default_factory=Released)

    @classmethod
    def start(
        cls,
        inventory: Inventory,
        plan: Plan,
        seams: Seams,
        journal: Journal,
        progress: Progress,
        say: Say,
        reused: Mapping[str, tuple[Artifact, ...]],
        *,
        force: bool = False,
    ) -> ReleaseContext:
        """The context of a run of ``plan``; ``reused`` targets have their artifacts already."""
        return cls(
            inventory=inventory,
            plan=plan,
            seams=seams,
            journal=journal,
            progress=progress,
            say=say,
            paths=RunPaths(inventory.workspace, plan.run_id),
            runs={
                **({plan.gate.name: TargetRun()} if plan.gate is not None else {}),
                **{t.name: TargetRun(artifacts=reused.get(t.name, ())) for t in plan.targets},
            },
            force=force,
        )

    @property
    def artifacts(self) -> list[Artifact]:
        """Every target's verified artifacts, in the plan's order."""
        return [a for run in self.runs.values() for a in run.artifacts]

    @property
    def pushed_images(self) -> tuple[ImageSummary, ...]:
        """The image each image target has in the registry at this version, checked."""
        return tuple(self.images)
