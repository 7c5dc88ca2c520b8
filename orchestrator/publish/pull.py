"""Copying a published tree back to where releases keep it (``invoke repo.pull``, releases).

Releases add to a local tree and publish all of it, so a machine that starts empty (a new
CI runner, a lost cache) must first get the tree back. Every file the target's manifest
lists is fetched into a directory beside the tree's place, checked against its size and
SHA-256, and moved into place only when all are there. The caches in ``.state/`` are not
published; the next ``repo.build`` rebuilds them by reading the packages once.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import IO

from orchestrator.errors import PublishError, UsageError
from orchestrator.publish import remote
from orchestrator.publish.info import Report
from orchestrator.publish.local import file_info, refuse_dropping, tree_paths
from orchestrator.publish.manifest import Manifest
from orchestrator.publish.run import Target, served_by
from orchestrator.publish.s3 import S3Target, read_manifest
from orchestrator.publish.session import open_shell
from orchestrator.publish.ssh import RepoServer, SshTarget
from orchestrator.repo.layout import PUBLISHED
from orchestrator.repo.pruned import pruned_files


def _tree_path(name: str) -> str | None:
    """The manifest path of an archive member, or None unless it belongs to a tree."""
    path = PurePosixPath(name)
    parts = [part for part in path.parts if part != "."]
    if path.is_absolute() or not parts or ".." in parts or "\\" in name:
        return None
    relative = "/".join(parts)
    return relative if relative == remote.MANIFEST or parts[0] in PUBLISHED else None


def extract_tree(stream: IO[bytes], staging: Path) -> None:
    """Write the files of a tree archive (read as it streams) under ``staging``.

    Regular files and hard links to them (tar stores a by-hash copy of an index as a link
    to the index) are written; anything else is skipped. PublishError if a file cannot be
    written here.
    """
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            relative = _tree_path(member.name)
            if relative is None or not (member.isfile() or member.islnk()):
                continue
            target = staging / relative
            try:
                _write_member(archive, member, staging, target)
            except OSError as error:
                raise PublishError(f"cannot write {target}: {error}") from None


def _write_member(
    archive: tarfile.TarFile, member: tarfile.TarInfo, staging: Path, target: Path
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)  # a name archived twice: the last one wins, as with tar
    if member.islnk():
        linked = _tree_path(member.linkname)
        if linked is not None and (staging / linked).is_file():
            os.link(staging / linked, target)
        return
    source = archive.extractfile(member)
    if source is not None:
        with target.open("wb") as sink:
            shutil.copyfileobj(source, sink)


def _fetch_server(target: SshTarget, staging: Path) -> Manifest:
    """The snapshot the server serves, under ``staging``; its manifest."""
    with open_shell(target.access, target.where) as shell:
        server = RepoServer(shell, target.config.name, target.config.path)
        if server.state().current is None:
            raise PublishError(f"{target.where} publishes nothing yet: there is no tree to pull")
        try:
            command = remote.archive_current(server.root)
            shell.stream(command, None, sink=lambda output: extract_tree(output, staging))
        except tarfile.TarError as error:
            raise PublishError(
                f"{target.where}: the tree archive broke off ({error}); a publish may have "
                "removed that snapshot meanwhile: run invoke repo.pull again"
            ) from None
    manifest = staging / remote.MANIFEST
    if not manifest.is_file():
        raise PublishError(
            f"{target.where}: the current snapshot has no manifest, so its files cannot be "
            "checked: publish it again from a complete tree"
        )
    served = Manifest.from_json(manifest.read_bytes(), f"{target.where}: manifest")
    manifest.unlink()
    return served


def _fetch_bucket(target: S3Target, staging: Path) -> Manifest:
    """Every object of the bucket's manifest, under ``staging``; the manifest."""
    bucket = target.bucket()
    served = read_manifest(bucket)
    if not served.files:
        raise PublishError(f"{bucket.where} publishes nothing yet: there is no tree to pull")

    def fetch(path: str) -> None:
        if _tree_path(path) != path:
            raise PublishError(f"{bucket.where}: the manifest lists an unsafe path {path!r}")
        (staging / path).parent.mkdir(parents=True, exist_ok=True)
        if not bucket.download(path, staging / path):
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
    try:
        if isinstance(target, SshTarget):
            where, served = target.where, _fetch_server(target, staging)
        else:
            where, served = target.bucket().where, _fetch_bucket(target, staging)
        _check(staging, served, where)
        # Renaming onto an empty directory replaces it; onto one that filled meanwhile, fails.
        staging.chmod(0o755)
        staging.rename(repo_dir)
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
