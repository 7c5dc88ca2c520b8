"""Copying a published tree back to where releases keep it (``invoke repo.pull``, releases).

Releases add to a local tree and publish all of it, so a machine that starts empty (a new
CI runner, a lost cache) must first get the tree back. Every file the target's manifest
lists is fetched into a directory beside the tree's place, checked against its size and
SHA-256, and moved into place only when all are there. The caches in ``.state/`` are not
published; the next ``repo.build`` rebuilds them by reading the packages once.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import IO

from orchestrator.archive import ArchiveLimits, checked_name, extract
from orchestrator.errors import ArchiveError, PublishError, UsageError
from orchestrator.publish import remote
from orchestrator.publish.info import Report
from orchestrator.publish.local import file_info, refuse_dropping, tree_paths
from orchestrator.publish.manifest import Manifest
from orchestrator.publish.run import Target, served_by
from orchestrator.publish.s3 import S3Target, read_manifest
from orchestrator.publish.session import open_shell
from orchestrator.publish.ssh import RepoServer, SshTarget, current_manifest
from orchestrator.repo.layout import PUBLISHED
from orchestrator.repo.pruned import pruned_files


def _in_tree(name: str) -> bool:
    """Whether a checked archive name (see :func:`checked_name`) belongs to a tree."""
    return name == remote.MANIFEST or name.split("/", 1)[0] in PUBLISHED


def archive_limits(manifest: Manifest) -> ArchiveLimits:
    """What the archive of a snapshot with ``manifest`` may hold.

    That is its files (retired ones too), the manifest itself and the directories they
    sit in, so a server cannot fill the disk through a pull.
    """
    stored = manifest.stored()
    directories = {str(parent) for path in stored for parent in PurePosixPath(path).parents}
    # A publish between reading the manifest and the archive may add files; then the
    # pull fails its check and is run again, so the slack needs only cover the manifest.
    size = sum(info.size for info in stored.values()) + len(manifest.to_json()) * 2 + (1 << 20)
    return ArchiveLimits(
        packed_bytes=size, unpacked_bytes=size, files=len(stored) + len(directories) + 16
    )


def unpack_tree(stream: IO[bytes], tree: Path, limits: ArchiveLimits, where: str) -> None:
    """Write the tree files of a snapshot archive (read as it streams) into the new ``tree``.

    By-hash copies arrive as hard links to their index and stay links; files outside the
    tree's directories are skipped; anything unsafe refuses the whole archive.
    """
    try:
        extract(stream, tree, limits, compressed=False, hard_links=True, wanted=_in_tree)
    except ArchiveError as error:
        raise PublishError(
            f"{where}: the tree archive was refused ({error}); if a publish ran meanwhile, "
            "run invoke repo.pull again"
        ) from None


def _fetch_server(target: SshTarget, tree: Path) -> Manifest:
    """The snapshot the server serves, into the new directory ``tree``; its manifest."""
    with open_shell(target.access, target.where) as shell:
        server = RepoServer(shell, target.config.name, target.config.path)
        state = server.state()
        if state.current is None:
            raise PublishError(f"{target.where} publishes nothing yet: there is no tree to pull")
        limits = archive_limits(current_manifest(server, state))
        shell.stream(
            remote.archive_current(server.root),
            None,
            sink=lambda output: unpack_tree(output, tree, limits, target.where),
        )
    manifest = tree / remote.MANIFEST
    if not manifest.is_file():
        raise PublishError(
            f"{target.where}: the current snapshot has no manifest, so its files cannot be "
            "checked: publish it again from a complete tree"
        )
    served = Manifest.from_json(manifest.read_bytes(), f"{target.where}: manifest")
    manifest.unlink()
    return served


def _fetch_bucket(target: S3Target, tree: Path) -> Manifest:
    """Every object of the bucket's manifest, into the new directory ``tree``; the manifest."""
    bucket = target.bucket()
    served = read_manifest(bucket)
    if not served.files:
        raise PublishError(f"{bucket.where} publishes nothing yet: there is no tree to pull")
    tree.mkdir(mode=0o700)

    def fetch(path: str) -> None:
        try:
            safe = checked_name(path) == path and _in_tree(path)
        except ArchiveError:
            safe = False
        if not safe:
            raise PublishError(f"{bucket.where}: the manifest lists an unsafe path {path!r}")
        # Only this pull writes under the fresh tree, and never a link: no path leads out.
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        if not bucket.download(path, tree / path, served.files[path].size):
            raise PublishError(
                f"{bucket.where}: {path} is in the manifest but not in the bucket: publish "
                "the bucket again from a complete tree"
            )

    with ThreadPoolExecutor(max_workers=target.config.concurrency) as pool:
        list(pool.map(fetch, sorted(served.files)))
    return served


def _check(staging: Path, served: Manifest, where: str) -> None:
    """Raise PublishError unless ``staging`` holds exactly the manifest's files, intact.

    Files the manifest does not list (retired ones the server still keeps) are removed.
    """
    for path in set(tree_paths(staging)) - set(served.files):
        (staging / path).unlink()
    for path, expected in sorted(served.files.items()):
        target = staging / path
        if not target.is_file() or file_info(target) != expected:
            raise PublishError(
                f"{where}: {path} does not match the manifest (it changed while pulling, or "
                "the target is damaged): run invoke repo.pull again"
            )


def _is_empty(directory: Path) -> bool:
    return not directory.exists() or (directory.is_dir() and not any(directory.iterdir()))


def pull_tree(target: Target, repo_dir: Path) -> int:
    """Copy the tree ``target`` serves to ``repo_dir``; the number of files.

    ``repo_dir`` must be missing or empty: a leftover ``.state/`` (caches, the release
    ledger, the prune record) would describe another tree. The tree is built beside it and
    renamed into place in one step, once every file arrived intact.
    """
    if not _is_empty(repo_dir):
        raise UsageError(
            f"{repo_dir} is not empty: pull only into a missing or empty directory (move "
            "that one away first)"
        )
    try:
        repo_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{repo_dir.name}.pull-", dir=repo_dir.parent))
    except OSError as error:
        raise PublishError(f"cannot make a directory beside {repo_dir}: {error}") from None
    tree = staging / "tree"
    try:
        if isinstance(target, SshTarget):
            where, served = target.where, _fetch_server(target, tree)
        else:
            where, served = target.bucket().where, _fetch_bucket(target, tree)
        _check(tree, served, where)
        # Renaming onto an empty directory replaces it; onto one that filled meanwhile, fails.
        tree.chmod(0o755)
        tree.rename(repo_dir)
    except OSError as error:
        raise PublishError(f"cannot write the tree pulled into {repo_dir}: {error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(served.files)


def ready_tree(repo_dir: Path, targets: Sequence[Target], report: Report) -> None:
    """Before a release builds: make sure publishing the tree will not unpublish anything.

    A missing tree (a machine that starts empty) is pulled from the first target that
    serves one. Then PublishError if the tree lacks packages a target serves and was not
    pruned of, so a lost tree stops the release before any droplet exists. A target that
    cannot be read now is left to the publish, which checks again under its lock.
    """
    served: list[tuple[Target, str, Manifest]] = []
    paths = set(tree_paths(repo_dir))
    for target in targets:
        try:
            served.append((target, *served_by(target)))
        except PublishError as error:
            if not paths:
                # It may serve the tree this release should build on: do not start afresh.
                raise PublishError(
                    f"the local tree {repo_dir} is missing and a publish target cannot be "
                    f"read to bring it back ({error}): try again when it answers"
                ) from None
            report(f"could not read what a publish target serves ({error}); publishing checks it")
    if not paths:
        source = next(((target, where) for target, where, m in served if m.files), None)
        if source is not None:
            report(f"the local tree {repo_dir} is missing: pulling it from {source[1]}")
            report(f"pulled {pull_tree(source[0], repo_dir)} file(s) from {source[1]}")
            paths = set(tree_paths(repo_dir))
    pruned = pruned_files(repo_dir)
    for _, where, manifest in served:
        refuse_dropping(repo_dir, paths, pruned, manifest, where)
