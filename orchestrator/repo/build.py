"""Adding packages to a repository tree, re-signing it and pruning it: the side-effect layer.

Every operation reads and checks all its input first, builds the changed suites and RPM
trees beside the live ones, signs them, and only then swaps them in (see
:mod:`orchestrator.repo.tree`), so a bad package or a signing failure leaves the tree as it
was. The tasks and the release pipeline call these functions.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.engine.atomic import write_atomically, write_json_atomically
from orchestrator.errors import RepositoryError, UsageError
from orchestrator.repo import clientfiles
from orchestrator.repo.cache import MetadataCache
from orchestrator.repo.deb_tree import DebPool, SuiteUpdate, save_generations, write_suite
from orchestrator.repo.layout import DEB, PACKAGE_SUFFIXES, RPM, STATE
from orchestrator.repo.options import RepoOptions
from orchestrator.repo.packages import DebPackage, RpmPackage, read_deb, read_rpm
from orchestrator.repo.pruned import update_pruned
from orchestrator.repo.retention import (
    Versioned,
    deb_version_compare,
    rpm_evr_compare,
    select_pruned,
)
from orchestrator.repo.rpm_tree import RpmTree, rpm_trees, target_href
from orchestrator.repo.signing import SigningKey
from orchestrator.repo.tree import Staging, holding_tree_lock

# The fingerprint of the key that signed every index of the tree.
SIGNED_BY = "signed-by"
# Which client files were last rendered, and from what (see clientfiles.inputs_digest).
CLIENT_FILES = "client-files.json"


@dataclass
class RepoChange:
    """What an operation did, with paths relative to the tree root."""

    added: list[str] = field(default_factory=list)
    skipped_identical: list[str] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)


def find_packages(directory: Path) -> list[Path]:
    """Every .deb and .rpm under ``directory``, sorted."""
    if not directory.is_dir():
        raise UsageError(f"packages directory {directory} does not exist: pass --packages DIR")
    return sorted(p for p in directory.rglob("*") if p.suffix in PACKAGE_SUFFIXES and p.is_file())


def _check_channel(channel: str, options: RepoOptions) -> None:
    if channel not in options.channels:
        allowed = ", ".join(options.channels)
        raise UsageError(f"unknown channel {channel!r}: use one of {allowed}")


def _read_inputs(packages: Sequence[Path]) -> tuple[list[DebPackage], list[RpmPackage]]:
    """Read and check every input before anything is written."""
    if not packages:
        raise UsageError("no .deb or .rpm files to add: check the --packages directory")
    debs: dict[tuple[str, str, str], DebPackage] = {}
    rpms: dict[tuple[str, str, str], RpmPackage] = {}
    for path in packages:
        if path.suffix == ".deb":
            deb = read_deb(path)
            key = (deb.control.name, deb.control.version, deb.control.arch)
            if key in debs and debs[key].digests.sha256 != deb.digests.sha256:
                raise RepositoryError(
                    f"{debs[key].path} and {path} are both {' '.join(key)} with different "
                    "content: keep one"
                )
            debs[key] = deb
        elif path.suffix == ".rpm":
            rpm = read_rpm(path)
            rpm_key = (rpm.name, rpm.evr, rpm.arch)
            if rpm_key in rpms and rpms[rpm_key].identity != rpm.identity:
                raise RepositoryError(
                    f"{rpms[rpm_key].path} and {path} are both {' '.join(rpm_key)} with "
                    "different content: keep one"
                )
            rpms[rpm_key] = rpm
        else:
            raise RepositoryError(f"{path} is neither a .deb nor an .rpm: remove it")
    return list(debs.values()), list(rpms.values())


def _written_client_files(state: Path, digest: str) -> list[str] | None:
    """The client files last written from inputs with this digest, if that is the record."""
    try:
        record = json.loads((state / CLIENT_FILES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("inputs") != digest:
        return None
    files = record.get("files")
    return [str(path) for path in files] if isinstance(files, list) else None


class _Run:
    """State shared by the steps of one operation on one tree."""

    def __init__(self, repo_dir: Path, options: RepoOptions, now: datetime | None) -> None:
        self.repo_dir = repo_dir
        self.options = options
        self.now = now or datetime.now(UTC)
        self.state = repo_dir / STATE
        self.pool = DebPool(repo_dir / DEB, MetadataCache(self.state / "cache" / "deb.sqlite"))
        self.suite_updates: list[SuiteUpdate] = []
        self.trees: dict[tuple[str, str], RpmTree] = {}
        self.client_files: dict[str, object] | None = None
        # The fingerprint of the key that signed every index, once this run re-signed all.
        self.signer: str | None = None
        # The RPM trees whose repodata this run wrote (and signed).
        self.written_trees: set[tuple[str, str]] = set()

    def signed_by(self) -> str | None:
        """The fingerprint of the key that signed the tree (None for a new or older tree)."""
        try:
            return (self.state / SIGNED_BY).read_text(encoding="ascii").strip() or None
        except (OSError, UnicodeDecodeError):
            return None

    def tree(self, channel: str, arch: str) -> RpmTree:
        key = (channel, arch)
        if key not in self.trees:
            self.trees[key] = RpmTree(self.repo_dir, channel, arch, self.state)
        return self.trees[key]

    def write_suite(
        self, channel: str, filenames: Collection[str], signer: SigningKey, staging: Staging
    ) -> SuiteUpdate:
        update = write_suite(
            self.pool, channel, filenames, self.options, signer, staging, self.state, self.now
        )
        self.suite_updates.append(update)
        return update

    def stage_client_files(
        self, signer: SigningKey, staging: Staging, deb_channels: set[str], rpm_channels: set[str]
    ) -> list[str]:
        deb_all = sorted(deb_channels | set(self.pool.suites()))
        rpm_all = sorted(rpm_channels | {channel for channel, _ in rpm_trees(self.repo_dir)})
        digest = clientfiles.inputs_digest(
            self.options, signer.fingerprint, signer.public_key, deb_all, rpm_all
        )
        written = _written_client_files(self.state, digest)
        if written is not None and all((self.repo_dir / path).is_file() for path in written):
            return []
        files = clientfiles.render_client_files(
            self.options,
            signer.fingerprint,
            signer.public_key,
            signer.public_key_binary,
            deb_all,
            rpm_all,
        )
        self.client_files = {"inputs": digest, "files": sorted(files)}
        return [path for path, data in files.items() if staging.file(self.repo_dir / path, data)]

    def commit(self, staging: Staging) -> None:
        staging.commit()
        # Caches and by-hash history describe the new tree, so they are saved after the swap.
        self.pool.cache.save()
        for tree in self.trees.values():
            tree.cache.save()
        for update in self.suite_updates:
            save_generations(self.state, update)
        if self.client_files is not None:
            write_json_atomically(self.state / CLIENT_FILES, self.client_files, durable=False)
        if self.signer is not None:
            write_atomically(self.state / SIGNED_BY, self.signer + "\n", durable=False)

    def __enter__(self) -> _Run:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.pool.cache.close()
        for tree in self.trees.values():
            tree.cache.close()


def _add_debs(
    run: _Run, debs: list[DebPackage], channel: str, signer: SigningKey, staging: Staging
) -> RepoChange:
    change = RepoChange()
    members = run.pool.members(channel)
    placed: set[str] = set()
    for filename in run.pool.place(debs, staging):
        if filename in members:
            change.skipped_identical.append(f"{DEB}/{filename}")
        else:
            change.added.append(f"{DEB}/{filename}")
            placed.add(filename)
    if placed or not (run.repo_dir / DEB / "dists" / channel / "Release").is_file():
        update = run.write_suite(channel, members | placed, signer, staging)
        change.rewritten.extend(update.rewritten)
    return change


def _add_rpms(
    run: _Run, rpms: list[RpmPackage], channel: str, signer: SigningKey, staging: Staging
) -> RepoChange:
    change = RepoChange()
    wanted: list[tuple[RpmPackage, RpmTree]] = []
    for package in rpms:
        arches = [package.arch]
        if package.arch == "noarch":
            existing = {
                arch for tree_channel, arch in rpm_trees(run.repo_dir) if tree_channel == channel
            }
            arches = sorted(set(run.options.rpm_architectures) | existing)
        for arch in arches:
            tree = run.tree(channel, arch)
            if tree.contains(package):
                change.skipped_identical.append(f"{RPM}/{channel}/{arch}/{target_href(package)}")
            else:
                wanted.append((package, tree))
    if not wanted:
        return change
    incoming = Path(tempfile.mkdtemp(prefix="incoming-", dir=run.state))
    touched = {(tree.channel, tree.arch): tree for _, tree in wanted}
    try:
        signed: dict[Path, Path] = {}
        for package, _ in wanted:
            if package.path not in signed:
                copy = incoming / f"{len(signed)}.rpm"
                shutil.copyfile(package.path, copy)
                signed[package.path] = copy
        with signer.signing_rpms(list(signed.values())):
            # Read what the new repodata reuses while rpmsign works.
            drafts = {
                key: tree.prepare(
                    sorted({*tree.hrefs(), *(target_href(p) for p, t in wanted if t is tree)})
                )
                for key, tree in touched.items()
            }
        for package, tree in wanted:
            href = tree.place(signed[package.path], package, staging)
            change.added.append(f"{RPM}/{channel}/{tree.arch}/{href}")
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    revision = int(run.now.timestamp())
    for key, tree in touched.items():
        tree.write(drafts[key], signer, staging, revision)
        run.written_trees.add(key)
        change.rewritten.append(f"{RPM}/{tree.channel}/{tree.arch}/repodata")
    return change


def add_packages(
    packages: Sequence[Path],
    repo_dir: Path,
    channel: str,
    options: RepoOptions,
    signer: SigningKey,
    now: datetime | None = None,
) -> RepoChange:
    """Add .deb and .rpm files to ``channel`` of the tree at ``repo_dir``, re-index and sign.

    The tree is created if missing. Identical packages already in the channel are skipped; a
    package whose name, version and architecture exist with different content is refused.
    """
    _check_channel(channel, options)
    debs, rpms = _read_inputs(packages)
    repo_dir.mkdir(parents=True, exist_ok=True)
    with holding_tree_lock(repo_dir), Staging() as staging, _Run(repo_dir, options, now) as run:
        signed_by = run.signed_by()
        existed = bool(run.pool.suites()) or bool(rpm_trees(repo_dir))
        deb_change = _add_debs(run, debs, channel, signer, staging) if debs else RepoChange()
        rpm_change = _add_rpms(run, rpms, channel, signer, staging) if rpms else RepoChange()
        change = RepoChange(
            added=deb_change.added + rpm_change.added,
            skipped_identical=deb_change.skipped_identical + rpm_change.skipped_identical,
            rewritten=deb_change.rewritten + rpm_change.rewritten,
        )
        if signed_by != signer.fingerprint:
            # Another key signed the tree (a rotated key, or a tree from before this was
            # recorded): indexes left as they were would still carry the old signature
            # while the published key is this one.
            if existed:
                change.rewritten += _sign_everything(run, signer, staging)
            run.signer = signer.fingerprint
        change.rewritten += run.stage_client_files(
            signer, staging, {channel} if debs else set(), {channel} if rpms else set()
        )
        run.commit(staging)
        update_pruned(repo_dir, removed=(), added=change.added)
    return change


def resign(
    repo_dir: Path, options: RepoOptions, signer: SigningKey, now: datetime | None = None
) -> RepoChange:
    """Re-sign every suite with a fresh Date and Valid-Until, and every ``repomd.xml``."""
    if not repo_dir.is_dir():
        raise UsageError(f"repository {repo_dir} does not exist: pass --repo DIR")
    with holding_tree_lock(repo_dir), Staging() as staging, _Run(repo_dir, options, now) as run:
        change = RepoChange(rewritten=_sign_everything(run, signer, staging))
        run.signer = signer.fingerprint
        change.rewritten += run.stage_client_files(signer, staging, set(), set())
        run.commit(staging)
    return change


def _sign_everything(run: _Run, signer: SigningKey, staging: Staging) -> list[str]:
    """Re-sign every suite and every ``repomd.xml`` this run has not just written."""
    rewritten = []
    written = {update.channel for update in run.suite_updates}
    for channel in run.pool.suites():
        if channel not in written:
            run.write_suite(channel, run.pool.members(channel), signer, staging)
            rewritten.append(f"{DEB}/dists/{channel}/InRelease")
    for channel, arch in rpm_trees(run.repo_dir):
        if (channel, arch) not in run.written_trees:
            run.tree(channel, arch).resign(signer, staging)
            rewritten.append(f"{RPM}/{channel}/{arch}/repodata/repomd.xml.asc")
    return rewritten


def _prune_candidates(run: _Run) -> list[Versioned]:
    keep_last = run.options.retention.keep_last
    debs = [
        Versioned(channel, entry.name, entry.arch, entry.version, f"{DEB}/{entry.filename}")
        for channel in run.pool.suites()
        for entry in map(run.pool.entry, sorted(run.pool.members(channel)))
    ]
    # Each RPM tree is one architecture, so a noarch package competes with its arch siblings.
    rpms = [
        Versioned(channel, entry.name, arch, entry.evr, f"{RPM}/{channel}/{arch}/{href}")
        for channel, arch in rpm_trees(run.repo_dir)
        for href in run.tree(channel, arch).hrefs()
        for entry in [run.tree(channel, arch).entry(href)]
    ]
    return select_pruned(debs, keep_last, deb_version_compare) + select_pruned(
        rpms, keep_last, rpm_evr_compare
    )


def plan_prune(repo_dir: Path, options: RepoOptions) -> list[Versioned]:
    """The package files ``options.retention`` would remove (nothing is changed)."""
    if not repo_dir.is_dir():
        raise UsageError(f"repository {repo_dir} does not exist: pass --repo DIR")
    with _Run(repo_dir, options, None) as run:
        return _prune_candidates(run)


def prune(
    repo_dir: Path, options: RepoOptions, signer: SigningKey, now: datetime | None = None
) -> list[Versioned]:
    """Remove the versions ``options.retention`` does not keep, re-index and sign."""
    if not repo_dir.is_dir():
        raise UsageError(f"repository {repo_dir} does not exist: pass --repo DIR")
    with holding_tree_lock(repo_dir), Staging() as staging, _Run(repo_dir, options, now) as run:
        pruned = _prune_candidates(run)
        if not pruned:
            return []
        gone = {item.path for item in pruned}
        removed: list[str] = []
        still_listed: set[str] = set()
        for channel in run.pool.suites():
            members = run.pool.members(channel)
            keep = sorted(name for name in members if f"{DEB}/{name}" not in gone)
            still_listed.update(keep)
            if len(keep) != len(members):
                run.write_suite(channel, keep, signer, staging)
        for item in pruned:
            if item.path.startswith(f"{DEB}/") and item.path[len(DEB) + 1 :] not in still_listed:
                staging.obsolete(repo_dir / item.path)
                run.pool.cache.discard(item.path[len(DEB) + 1 :])
                removed.append(item.path)
        revision = int(run.now.timestamp())
        for channel, arch in rpm_trees(repo_dir):
            tree = run.tree(channel, arch)
            prefix = f"{RPM}/{channel}/{arch}/"
            hrefs = tree.hrefs()
            keep_hrefs = [href for href in hrefs if prefix + href not in gone]
            if len(keep_hrefs) != len(hrefs):
                tree.write(tree.prepare(keep_hrefs), signer, staging, revision)
                for href in set(hrefs) - set(keep_hrefs):
                    staging.obsolete(tree.root / href)
                    tree.cache.discard(href)
                    removed.append(prefix + href)
        # Recorded first: a record of files still in the tree allows nothing, and a crash
        # after the swap must not leave removals that publishing would refuse.
        update_pruned(repo_dir, removed=removed, added=())
        run.commit(staging)
    return pruned
