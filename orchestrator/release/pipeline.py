"""The release: what each operation of a plan does, run by the executor, and its summary.

:func:`run_release` hands the plan to :class:`~orchestrator.engine.executor.Executor` with the
release's handlers (:class:`ReleaseHandlers`), which do each operation against the seams a
run is given (:class:`Seams`: build hosts, publish targets, the signing key, the source,
the verification, the registry; the tasks wire the real ones, :mod:`orchestrator.testing`
has fakes):

- ``lock`` holds the workspace's release lock to the end of the run;
- ``signing-key`` opens and proves the key before any droplet exists;
- ``publish-check`` ends the run at once when every target (and the registry, for image
  targets) serves this version already,
  skips the builds when the local tree has it (a target lacks it: after a rollback, or a
  publish that failed there), pulls a missing tree back, and refuses a tree that lacks
  published packages;
- a target's program provisions, uploads, builds, collects, fetches through the strict
  reader (its artifacts are journaled at once) and destroys its droplet;
- ``index`` adds every package to a working copy of the local tree; ``publish`` sends
  that copy to one target; the copy becomes the tree once a target serves it, and is
  thrown away otherwise, so what a run indexed is published by it or gone;
- ``push-image`` (before any publish) pushes a target's checked image by digest;
  ``push-index`` then pushes the index of a repository's platforms as the version tag
  and reads every platform back; ``tag-image`` (after the publishes) moves the
  inventory's extra tags to the index on plain releases;
- cleanup, signals held back: destroy whatever is left and say what is still alive,
  commit or discard the copy, wipe the keyring, release the locks.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.cloud.buildhosts import BuildHosts, HostSession, OpenedMachine, Released
from orchestrator.config.inventory import Inventory
from orchestrator.engine.atomic import write_json_atomically
from orchestrator.engine.executor import (
    Directive,
    EndRun,
    Executor,
    Outcome,
    Program,
    SkipBuilds,
    Span,
    stopped,
)
from orchestrator.engine.interrupts import InterruptHandler
from orchestrator.engine.locks import holding_directory_lock, new_details
from orchestrator.engine.operations import Operation, RemoteCommand
from orchestrator.engine.progress import Progress
from orchestrator.engine.run_ids import is_run_id
from orchestrator.engine.waiting import SlowSteps
from orchestrator.errors import (
    BuildError,
    Cancelled,
    LockError,
    OrchestratorError,
    PublishError,
    UsageError,
)
from orchestrator.images.index import PlatformManifest, platform_mismatch
from orchestrator.images.names import RUN_LABEL
from orchestrator.images.push import push_image, push_index, tag_image
from orchestrator.images.registry import Registry
from orchestrator.images.saved import read_saved_image
from orchestrator.images.served import ServedImage, served_tag
from orchestrator.publish.info import PublishedTo, PublishInfo, Say
from orchestrator.publish.local import scan_tree
from orchestrator.publish.manifest import Manifest
from orchestrator.publish.pull import read_served, ready_tree
from orchestrator.publish.target import PublishTarget
from orchestrator.release.artifacts import Artifact, verify_artifacts
from orchestrator.release.buildlog import LogStream
from orchestrator.release.hooks import hook_environment, run_hook
from orchestrator.release.journal import (
    JOURNAL,
    Journal,
    last_interrupted_run,
    read_journal,
    reusable_artifacts,
)
from orchestrator.release.operations import (
    CheckSigningKey,
    CheckTargets,
    ExportSource,
    FetchArtifacts,
    Index,
    Provision,
    Publish,
    PushImage,
    PushIndex,
    ReleaseMachine,
    RunHook,
    TagImage,
    TakeReleaseLock,
    Upload,
    Verify,
)
from orchestrator.release.plan import Plan, TargetPlan, moved_tag
from orchestrator.release.summary import (
    ImageSummary,
    PublishedSummary,
    RunStatus,
    RunSummary,
    TargetSummary,
)
from orchestrator.remote import sshexec
from orchestrator.repo.build import add_packages
from orchestrator.repo.layout import STATE
from orchestrator.repo.options import repo_options
from orchestrator.repo.signing import SigningKey
from orchestrator.repo.tree import holding_tree_lock
from orchestrator.repo.working import WorkingCopy
from orchestrator.semver import is_semver, precedence_key
from orchestrator.version import parse_tag

LEDGER = "releases.json"


@dataclass(frozen=True)
class Seams:
    """What a release runs against: the real things (see ``orchestrator.cli``) or fakes."""

    build_hosts: Callable[[Plan, Journal], BuildHosts]
    publish_targets: Callable[[], list[PublishTarget]]
    signing_key: Callable[[], AbstractContextManager[SigningKey]]
    export_source: Callable[[Path, str, Path], Path]
    verify: Callable[[str, str, Say], list[str]] | None = None  # failures, by version, channel
    registry: Callable[[], Registry] | None = None  # where image targets push


@dataclass(frozen=True)
class ReleaseOptions:
    """Flags of ``invoke release`` that change what a run does beyond its plan."""

    resume: bool = False
    force: bool = False


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
    """What a target's program produced, for the summary."""

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


def read_ledger(repository: Path) -> dict[str, object]:
    """The versions the local tree holds, by package version."""
    return read_journal(repository / STATE / LEDGER) or {}


def _rendered(template: str, version: str) -> str | None:
    """What a tag template renders to for the plain release ``version`` (None if it cannot)."""
    try:
        return moved_tag(template, parse_tag(f"v{version}"), "tag")
    except UsageError:
        return None


def serves(manifest: Manifest, plan: Plan) -> bool:
    """Whether a target's manifest lists a package of ``plan``'s version for every target."""
    paths = list(manifest.files)
    for target in plan.targets:
        if target.format == "image":
            continue  # in the registry, not in the tree
        name, version = target.accepted.names[0], target.accepted.version
        if target.format == "deb":
            arches = f"({re.escape(target.arch)}|all)"
            pattern = rf"deb/pool/.*/{re.escape(name)}_{re.escape(version)}(-[^_/]+)?_{arches}\.deb"
        else:
            arches = f"({re.escape(target.rpm_arch)}|noarch)"
            pattern = (
                rf"rpm/{re.escape(plan.channel)}/{re.escape(target.rpm_arch)}/.*"
                rf"{re.escape(name)}-{re.escape(version)}-[^-/]+\.{arches}\.rpm"
            )
        compiled = re.compile(pattern)
        if not any(compiled.fullmatch(path) for path in paths):
            return False
    return True


class ReleaseHandlers:
    """What each operation of a release does (see the module docstring)."""

    def __init__(
        self,
        inventory: Inventory,
        plan: Plan,
        seams: Seams,
        options: ReleaseOptions,
        journal: Journal,
        progress: Progress,
        say: Say,
        reused: Mapping[str, tuple[Artifact, ...]],
    ) -> None:
        self.inventory = inventory
        self.plan = plan
        self.seams = seams
        self.options = options
        self.journal = journal
        self.progress = progress
        self.say = say
        self.paths = RunPaths(inventory.workspace, plan.run_id)
        self.runs: dict[str, TargetRun] = {
            t.name: TargetRun(artifacts=reused.get(t.name, ())) for t in plan.targets
        }
        self.published: list[PublishedTo] = []
        self.messages: list[str] = []
        self._resources = ExitStack()
        self._signer: SigningKey | None = None
        self._targets: dict[str, PublishTarget] = {}
        self._working: WorkingCopy | None = None
        self._image_registry: Registry | None = None
        self._repositories_serve_version = True
        # Each image target's manifest, pushed by digest for its repository's index.
        self._platforms: dict[str, PlatformManifest] = {}
        # Repository -> the digest of the index its version tag names, read back.
        self._indexes: dict[str, str] = {}
        self._images: list[ImageSummary] = []
        self._hosts: BuildHosts | None = None
        self._hosts_error: OrchestratorError | None = None
        self._sessions: dict[str, OpenedMachine] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # Run-wide operations are said as they start or end; a long one, while it runs.
        self._slow = SlowSteps(say)
        self.released = Released()

    # The executor's protocol.

    def handle(self, operation: Operation, target: TargetPlan | None) -> Directive:
        """Carry ``operation`` out."""
        if target is not None:
            # The executor starts nothing but cleanups once the run is stopping.
            self._target_operation(operation, target)
            return None
        return self._run_wide(operation)

    def stop(self) -> None:
        """Hang every session up and stop waiting for machines."""
        self._stopping.set()
        with self._lock:
            hosts, sessions = self._hosts, list(self._sessions.values())
        if hosts is not None:
            hosts.stop()
        for opened in sessions:
            opened.session.hang_up()

    def on_span(self, span: Span) -> None:
        """Journal the operation; show a target's progress, and a long run-wide operation."""
        self.journal.operation(span)
        if span.program is not None:
            if span.status == "running":
                self.progress.update(span.program, span.name)
        elif span.status == "running":
            self._slow.started(span.where, span.name)
        else:
            self._slow.ended(span.where, span.name)

    def cleanup(self) -> str:
        """Destroy what is left, commit or discard the tree copy, wipe the key, unlock."""
        self._slow.close()
        done = []
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
            hosts = self._hosts
        for opened in sessions:
            opened.session.close()
        if hosts is not None:
            self.released = hosts.release_all(self.plan.cleanup_timeout)
            if self.released.alive:
                done.append(f"still alive: {', '.join(self.released.alive)}")
            else:
                done.append("no droplet left")
        if self._working is not None:
            if self.published:
                self._working.commit()
                done.append("the local tree now holds this release")
            else:
                self._working.discard()
                done.append("the local tree is as it was")
            self._working = None
        self._resources.close()
        return "; ".join(done) or "nothing to clean up"

    # Run-wide operations.

    def _run_wide(self, operation: Operation) -> Directive:
        if isinstance(operation, TakeReleaseLock):
            self._take_release_lock(operation)
        elif isinstance(operation, CheckSigningKey):
            self._signer = self._resources.enter_context(self.seams.signing_key())
            self._signer.prove()  # a wrong passphrase stops the run before any droplet exists
        elif isinstance(operation, CheckTargets):
            return self._check_targets()
        elif isinstance(operation, ExportSource):
            self.seams.export_source(
                self.inventory.project.source,
                operation.commit,
                self.paths.workspace / operation.output,
            )
        elif isinstance(operation, Index):
            self._index(operation)
        elif isinstance(operation, Publish):
            self._publish(operation)
        elif isinstance(operation, PushImage):
            self._push_image(operation)
        elif isinstance(operation, PushIndex):
            self._push_index(operation)
        elif isinstance(operation, TagImage):
            self._tag_image(operation)
        elif isinstance(operation, Verify):
            self._verify(operation)
        elif isinstance(operation, RunHook):
            self._hook(operation)
        else:
            raise TypeError(f"no handler for {operation.kind}")
        return None

    def _take_release_lock(self, operation: TakeReleaseLock) -> None:
        details = new_details(self.plan.run_id, self.plan.tag, datetime.now(UTC))
        self._resources.enter_context(
            holding_directory_lock(
                self.paths.workspace / operation.path,
                details,
                where=f"the workspace {self.paths.workspace}",
                force="invoke unlock --force",
                wait=operation.timeout,
                say=self.say,
                error=LockError,
            )
        )

    def _check_targets(self) -> Directive:
        targets = self.seams.publish_targets()
        self._targets = {target.name: target for target in targets}
        repository = self.paths.repository
        served = read_served(targets)
        serving = [
            isinstance(manifest, Manifest) and serves(manifest, self.plan) for _, manifest in served
        ]
        # An image a dead run pushed may be pushed over only while nothing is published; a
        # target that could not be read may serve the version.
        self._repositories_serve_version = any(
            not isinstance(manifest, Manifest) or serves(manifest, self.plan)
            for _, manifest in served
        )
        images = self._served_images()
        everywhere = all(serving) and all(found is not None for found in images.values())
        if everywhere and not self.options.force:
            return EndRun(
                "already-published",
                f"{self.plan.tag} is already published as {self.plan.version} in "
                f"{self.plan.channel} by every target; nothing to do (--force to redo)",
            )
        # A machine that starts empty gets the served tree back; a tree that lost
        # published packages stops the run here, before any droplet exists.
        ready_tree(repository, served, self.say)
        entry = read_ledger(repository).get(self.plan.version)
        if isinstance(entry, dict) and not self.options.force:
            lacking = sorted(target for target, found in images.items() if found is None)
            if lacking:
                raise PublishError(
                    f"{self.plan.tag} is in the local tree but the registry lacks the image "
                    f"of {', '.join(lacking)}, which only the build of a new version can "
                    "make now (its packages are published): release a new version"
                )
            return SkipBuilds(
                f"{self.plan.tag} is in the local tree (run {entry.get('run_id')}) but not "
                "served by every target: publishing it again"
            )
        return None

    def _index(self, operation: Index) -> None:
        assert self._signer is not None  # the plan opens the key first
        repository = self.paths.repository
        # The tree stays locked until the copy has replaced it or been thrown away.
        self._resources.enter_context(
            holding_tree_lock(repository, run_id=self.plan.run_id, tag=self.plan.tag)
        )
        self._working = WorkingCopy(repository, self.paths.run_dir / "tree")
        packages = [
            a.path for run in self.runs.values() for a in run.artifacts if a.kind in ("deb", "rpm")
        ]
        if packages:
            change = add_packages(
                packages,
                self._working.path,
                operation.channel,
                repo_options(self.inventory),
                self._signer,
            )
            self.messages.append(f"indexed {len(change.added)} new package file(s)")
            self._record(self._working.path)

    def _record(self, tree: Path) -> None:
        """The ledger entry of this version, in the tree the packages are in."""
        path = tree / STATE / LEDGER
        ledger = read_journal(path) or {}
        ledger[self.plan.version] = {
            "tag": self.plan.tag,
            "commit": self.plan.commit,
            "version": self.plan.version,
            "channel": self.plan.channel,
            "run_id": self.plan.run_id,
            "at": time.time(),
            "packages": {a.name: a.sha256 for r in self.runs.values() for a in r.artifacts},
        }
        write_json_atomically(path, ledger)

    def _publish(self, operation: Publish) -> None:
        tree = self._working.path if self._working is not None else self.paths.repository
        release = PublishInfo(self.plan.run_id, self.plan.tag, self.plan.version)
        published = self._targets[operation.target].publish(
            scan_tree(tree), release, lock_wait=operation.timeout, say=self.say
        )
        self.published.append(published)

    def _served_images(self) -> dict[str, ServedImage | None]:
        """What the registry serves at this version, by image target: its platform's image."""
        indexes = [op for op in self.plan.after if isinstance(op, PushIndex)]
        if not indexes:
            return {}
        registry = self._registry()
        found: dict[str, ServedImage | None] = {}
        for op in indexes:
            served = served_tag(registry, op.repository, op.tag)
            for target, platform in zip(op.targets, op.platforms, strict=True):
                found[target] = served.image_for(platform) if served is not None else None
        return found

    @property
    def pushed_images(self) -> tuple[ImageSummary, ...]:
        """The image each image target has in the registry at this version, checked."""
        return tuple(self._images)

    def _registry(self) -> Registry:
        if self._image_registry is None:
            if self.seams.registry is None:
                raise PublishError("image targets need a registry: add 'registry' to the inventory")
            self._image_registry = self.seams.registry()
        return self._image_registry

    def _push_image(self, operation: PushImage) -> None:
        """Push the target's image by digest; its index checks it once the tag names it."""
        target = self.plan.target(operation.target)
        images = [a for a in self.runs[target.name].artifacts if a.kind == "image"]
        if not images:
            return  # no build ran (the local tree had the version): the index is read back
        image = read_saved_image(
            images[0].path, target.name, max_bytes=target.limits.unpacked_bytes
        )
        work = self.paths.run_dir / "images" / target.name
        self._platforms[target.name] = push_image(
            image, self._registry(), operation.repository, work
        )

    def _push_index(self, operation: PushIndex) -> None:
        """Push the index of the platforms' images as the version tag, then read it back.

        Nothing goes under the tag unless the images pushed are one per target's platform;
        what the registry then serves must be exactly those platforms, each labelled with
        the version.
        """
        registry = self._registry()
        reference = f"{operation.repository}:{operation.tag}"
        pushed = [self._platforms[t] for t in operation.targets if t in self._platforms]
        index: str | None = None
        if pushed:
            mismatch = platform_mismatch([m.platform for m in pushed], operation.platforms)
            if mismatch is not None:
                raise PublishError(f"the images built for {reference}: {mismatch}; not pushed")
            index = push_index(
                registry,
                operation.repository,
                operation.tag,
                pushed,
                may_replace=lambda digest: self._pushed_by_a_dead_run(
                    registry, operation.repository, digest
                ),
            )
        served = served_tag(registry, operation.repository, operation.tag)
        if served is None:
            # No build ran (the local tree had the version): the image was pushed with it.
            raise PublishError(
                f"{registry.where} has no {reference}, and images are pushed only by the "
                "run that builds them: release a new version"
            )
        if index is not None and served.digest != index:
            raise PublishError(
                f"{registry.where} serves {reference} as {served.digest}, not {index}"
            )
        mismatch = platform_mismatch(served.platforms, operation.platforms)
        if mismatch is not None:
            raise PublishError(f"{registry.where} serves {reference}, but {mismatch}")
        where = f"{registry.address}/{reference}"
        version = operation.tag
        for target, platform in zip(operation.targets, operation.platforms, strict=True):
            image = served.image_for(platform)
            assert image is not None  # the platforms are the targets'
            if image.version != version:
                raise PublishError(
                    f"{registry.where} serves {reference} for {platform} as version "
                    f"{str(image.version)[:40]!r}, not {version}"
                )
            self._images.append(ImageSummary(target, where, served.digest, platform, image.digest))
        self._indexes[operation.repository] = served.digest
        self.messages.append(f"image {where} {served.digest} ({', '.join(served.platforms)})")

    def _pushed_by_a_dead_run(self, registry: Registry, repository: str, digest: str) -> bool:
        """Whether what a tag names was pushed by a run of this workspace that published nothing.

        Only then may this run push over it: the run-id label of every image it names
        is one run of this tag and version that died (its journal never ended) or
        failed, and no repository serves the version.
        """
        if self._repositories_serve_version:
            return False
        found = served_tag(registry, repository, digest)
        runs = {image.labels.get(RUN_LABEL) for image in found.images} if found else set()
        run = runs.pop() if len(runs) == 1 else None
        if run is None or not is_run_id(run) or run == self.plan.run_id:
            return False
        journal = read_journal(self.paths.run_dir.parent / run / JOURNAL) or {}
        return (journal.get("tag"), journal.get("version")) == (
            self.plan.tag,
            self.plan.version,
        ) and journal.get("status") in ("running", "interrupted", "failed")

    def _tag_image(self, operation: TagImage) -> None:
        """Move each tag unless a newer plain release already holds it (no going back)."""
        registry = self._registry()
        digest = self._indexes[operation.repository]
        mine = precedence_key(operation.version)
        releases = [t for t in registry.tags(operation.repository) if is_semver(t) and "-" not in t]
        moved: list[str] = []
        for template, tag in zip(operation.templates, operation.tags, strict=True):
            newer = [
                r for r in releases if precedence_key(r) > mine and _rendered(template, r) == tag
            ]
            if newer:
                holder = max(newer, key=precedence_key)
                self.messages.append(f"kept {tag} of {operation.repository} at the newer {holder}")
            else:
                moved.append(tag)
        if moved:
            tag_image(registry, operation.repository, digest, moved)
            self.messages.append(f"moved {', '.join(moved)} of {operation.repository} to {digest}")

    def _verify(self, operation: Verify) -> None:
        if self.seams.verify is None:
            return
        failures = self.seams.verify(operation.version, operation.channel, self.say)
        if failures:
            raise VerificationFailed(f"verify: {len(failures)} check(s) failed: {failures[0]}")
        self.messages.append("verify: all checks passed")

    def _hook(self, operation: RunHook) -> None:
        artifacts = [a for run in self.runs.values() for a in run.artifacts]
        variables = {
            "TAG": self.plan.tag,
            "COMMIT": self.plan.commit,
            "VERSION": self.plan.version,
            "CHANNEL": self.plan.channel,
            "RUN_ID": self.plan.run_id,
            "ARTIFACTS": " ".join(str(a.path) for a in artifacts),
            "EXTRA_ARTIFACTS": " ".join(str(a.path) for a in artifacts if a.kind == "extra"),
        }
        hooks = self.inventory.hooks
        message = run_hook(
            operation.command,
            environment=hook_environment(os.environ, hooks.env, variables),
            cwd=self.paths.run_dir,
            log=self.paths.log_dir / "hooks.log",
            timeout=operation.timeout,
        )
        self.messages.append(message)
        if message.startswith("hook failed"):
            raise HookFailed(message)

    # A target's program.

    def _build_hosts(self) -> BuildHosts:
        with self._lock:
            if self._hosts_error is not None:
                raise self._hosts_error
            if self._hosts is None:
                hosts = self.seams.build_hosts(self.plan, self.journal)
                try:
                    hosts.check_capacity(
                        [t.machine for t in self.plan.targets if not self.runs[t.name].artifacts]
                    )
                except OrchestratorError as error:
                    self._hosts_error = error
                    raise
                self._hosts = hosts
            return self._hosts

    def _target_operation(self, operation: Operation, target: TargetPlan) -> None:
        run = self.runs[target.name]
        if isinstance(operation, Provision):
            hosts = self._build_hosts()
            opened = hosts.open(operation.machine, operation.timeout)
            with self._lock:
                self._sessions[target.name] = opened
            run.requested_at, run.price_hourly = opened.requested_at, opened.price_hourly
            if self._stopping.is_set():
                opened.session.hang_up()
        elif isinstance(operation, RemoteCommand):
            self._remote(operation, target, run)
        elif isinstance(operation, Upload):
            self._session(target).put(
                self.paths.workspace / operation.source, operation.destination
            )
        elif isinstance(operation, FetchArtifacts):
            (self.paths.workspace / operation.destination).parent.mkdir(parents=True, exist_ok=True)
            with self._session(target).reading(
                operation.command, timeout=operation.timeout
            ) as bundle:
                run.artifacts = tuple(
                    verify_artifacts(
                        bundle,
                        self.paths.workspace / operation.destination,
                        target=target.name,
                        arch=target.arch,
                        package_format=target.format,
                        accepted=target.accepted,
                        limits=target.limits,
                    )
                )
            # Safe on the orchestrator: journaled now, whatever happens to the droplet.
            self.journal.target_verified(target.name, run.artifacts)
            self.progress.update(target.name, "verified", f"{len(run.artifacts)} artifact(s)")
        elif isinstance(operation, ReleaseMachine):
            with self._lock:
                left = self._sessions.pop(target.name, None)
                running = self._hosts
            if left is not None:
                left.session.close()
            if running is not None and left is not None:
                running.release(operation.machine, operation.timeout)
            run.released_at = time.time()
        else:
            raise TypeError(f"no handler for {operation.kind}")

    def _session(self, target: TargetPlan) -> HostSession:
        with self._lock:
            opened = self._sessions.get(target.name)
        if opened is None:
            raise Cancelled(f"{target.name}: no machine (the run is stopping)")
        return opened.session

    def _remote(self, operation: RemoteCommand, target: TargetPlan, run: TargetRun) -> None:
        session = self._session(target)
        if operation.logged:
            run.log_path = self.paths.log_dir / f"{target.name}.log"
            log = LogStream(run.log_path, target.limits.log_bytes)
            try:
                status = session.run(
                    operation.command, timeout=operation.timeout, output=log, pty=True
                )
            except sshexec.CommandTimedOut:
                run.log_tail = log.tail()
                raise BuildError(
                    f"{target.name}: build exceeded its timeout of {target.timeout:.0f}s"
                ) from None
            finally:
                log.close()
            if status != 0 and not self._stopping.is_set():
                run.log_tail = log.tail()
                if status == 124:
                    raise BuildError(
                        f"{target.name}: build exceeded its timeout of {target.timeout:.0f}s"
                    )
                raise BuildError(f"{target.name}: build failed with exit code {status}")
        else:
            output = sshexec.Tail(16 * 1024)
            status = session.run(operation.command, timeout=operation.timeout, output=output)
            if status != 0 and not self._stopping.is_set():
                lines = output.text().strip().splitlines()
                raise BuildError(
                    f"{target.name}: {operation.stage} failed (exit {status})"
                    + (f": {lines[-1][:300]}" if lines else "")
                )
        if self._stopping.is_set():  # the command ended because the session was hung up
            raise Cancelled(stopped(target.name))


class VerificationFailed(OrchestratorError):
    """A real client could not install what was published."""


class HookFailed(OrchestratorError):
    """An after-publish hook exited non-zero or was killed; the release stands."""


def _reused(
    plan: Plan, options: ReleaseOptions, paths: RunPaths
) -> tuple[dict[str, tuple[Artifact, ...]], str | None]:
    """With --resume, the verified artifacts of the last interrupted run, and a message."""
    if not options.resume:
        return {}, None
    earlier = last_interrupted_run(paths.run_dir.parent, plan.tag, plan.version)
    if earlier is None:
        return {}, f"--resume: no interrupted run of {plan.tag}; building everything"
    reused = reusable_artifacts(earlier)
    return reused, (
        f"--resume: reusing {len(reused)} verified target(s) of run {earlier.get('run_id')}: "
        + (", ".join(sorted(reused)) or "none")
    )


def run_release(
    inventory: Inventory,
    plan: Plan,
    seams: Seams,
    progress: Progress,
    *,
    options: ReleaseOptions | None = None,
    interrupts: InterruptHandler | None = None,
    say: Say = print,
) -> RunSummary:
    """Carry ``plan`` out; return the summary (its exit code says how it went).

    An interrupt ends the run after its cleanup: the summary says ``interrupted``, with
    exit code 130 or 143 and what the cleanup did.
    """
    chosen = options or ReleaseOptions()
    started = time.time()
    paths = RunPaths(inventory.workspace, plan.run_id)
    reused, resumed = _reused(plan, chosen, paths)
    journal = Journal(paths.run_dir, _header(plan))
    for name, artifacts in reused.items():
        journal.target_verified(name, artifacts)
    handlers = ReleaseHandlers(inventory, plan, seams, chosen, journal, progress, say, reused)
    if resumed is not None:
        say(resumed)
        handlers.messages.append(resumed)
    executor = Executor(plan, handlers, signals=interrupts)
    if interrupts is not None:
        interrupts.watch(executor)
    try:
        outcome = executor.run(reused)
    except BaseException:
        journal.finish("failed")
        raise
    summary = _summary(plan, handlers, outcome, started, paths, set(reused))
    journal.finish(summary.status)
    return summary


def _header(plan: Plan) -> dict[str, str]:
    return {
        "run_id": plan.run_id,
        "project": plan.project,
        "tag": plan.tag,
        "ref": plan.ref,
        "commit": plan.commit,
        "version": plan.version,
        "channel": plan.channel,
    }


def _status(outcome: Outcome, handlers: ReleaseHandlers) -> tuple[RunStatus, int]:
    if outcome.interrupted is not None:
        return "interrupted", outcome.interrupted.exit_code
    if outcome.ended is not None:
        return "already-published", 0
    if outcome.failures or not (outcome.built or outcome.skipped):
        return "failed", 1
    # Published: to a repository, or (an inventory of images only) to the registry.
    status: RunStatus = "published" if handlers.published or handlers.pushed_images else "built"
    return status, 1 if outcome.warnings or handlers.released.alive else 0


def _messages(plan: Plan, handlers: ReleaseHandlers, outcome: Outcome) -> list[str]:
    """What the run has to tell: why it ended early, failures, warnings, the way out."""
    messages = list(handlers.messages)
    for directive in (outcome.ended, outcome.skipped):
        if directive is not None:
            messages.insert(0, directive.message)
    messages += [m for m in outcome.failures if m not in messages]
    messages += [m for m in outcome.warnings if m not in messages]
    if outcome.interrupted is not None:
        messages.append(
            f"{outcome.interrupted}: cleaned up ({outcome.cleaned}); "
            f"'invoke release --tag {plan.tag} --resume' continues with what was verified"
        )
    if handlers.released.alive:
        messages.append(
            f"droplets still alive: {', '.join(handlers.released.alive)} "
            f"({'; '.join(handlers.released.errors)}): finish with invoke teardown "
            f"--run-id {plan.run_id}"
        )
    return messages


def _target_summary(
    planned: TargetPlan, program: Program, run: TargetRun, reused: bool, now: float
) -> TargetSummary:
    """One target's line of the summary: its status, timings, cost, artifacts and log."""
    spans = {span.name: (span.started, span.ended) for span in program.spans}
    seconds = (
        max(end for _, end in spans.values()) - min(s for s, _ in spans.values()) if spans else 0.0
    )
    return TargetSummary(
        name=planned.name,
        arch=planned.arch,
        format=planned.format,
        # A build is never "unchanged": that is a deploy's host left alone.
        status="reused" if reused or program.status == "unchanged" else program.status,
        seconds=round(seconds, 3),
        droplet_seconds=round(run.machine_seconds(now), 3),
        cost=round(run.machine_seconds(now) * run.price_hourly / 3600.0, 6),
        artifacts=tuple(a.name for a in run.artifacts),
        spans=spans,
        error=program.error,
        log=str(run.log_path) if run.log_path and run.log_path.exists() else None,
        log_tail=run.log_tail,
    )


def _summary(
    plan: Plan,
    handlers: ReleaseHandlers,
    outcome: Outcome,
    started: float,
    paths: RunPaths,
    reused: set[str],
) -> RunSummary:
    status, exit_code = _status(outcome, handlers)
    finished = time.time()
    targets = tuple(
        _target_summary(
            planned,
            outcome.programs[planned.name],
            handlers.runs[planned.name],
            planned.name in reused,
            finished,
        )
        for planned in plan.targets
        if planned.name in outcome.programs
    )
    return RunSummary(
        run_id=plan.run_id,
        project=plan.project,
        tag=plan.tag,
        ref=plan.ref,
        commit=plan.commit,
        version=plan.version,
        channel=plan.channel,
        status=status,
        exit_code=exit_code,
        started_at=started,
        finished_at=finished,
        targets=targets,
        published=tuple(
            PublishedSummary(p.name, p.url, p.key_url, p.snapshot) for p in handlers.published
        ),
        images=handlers.pushed_images,
        messages=tuple(_messages(plan, handlers, outcome)),
        report=str(paths.report),
        spans={span.name: (span.started, span.ended) for span in outcome.spans},
    )
