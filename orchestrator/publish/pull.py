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
from pathlib import Path

from orchestrator.errors import PublishError, UsageError
from orchestrator.publish.info import Say
from orchestrator.publish.local import file_info, refuse_dropping, tree_paths
from orchestrator.publish.manifest import Manifest
from orchestrator.publish.target import PublishTarget
from orchestrator.repo.pruned import pruned_files


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


def pull_tree(target: PublishTarget, repo_dir: Path) -> int:
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
        served = target.fetch(tree)
        _check(tree, served, target.where)
        # Renaming onto an empty directory replaces it; onto one that filled meanwhile, fails.
        tree.chmod(0o755)
        tree.rename(repo_dir)
    except OSError as error:
        raise PublishError(f"cannot write the tree pulled into {repo_dir}: {error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(served.files)


def read_served(targets: Sequence[PublishTarget]) -> list[tuple[PublishTarget, Manifest | str]]:
    """What each target serves now, or why it could not be read (each read once, unlocked)."""
    served: list[tuple[PublishTarget, Manifest | str]] = []
    for target in targets:
        try:
            served.append((target, target.served()))
        except PublishError as error:
            served.append((target, str(error)))
    return served


def ready_tree(
    repo_dir: Path, served: Sequence[tuple[PublishTarget, Manifest | str]], say: Say
) -> None:
    """Before a release builds: make sure publishing the tree will not unpublish anything.

    ``served`` is :func:`read_served`'s answer. A missing tree (a machine that starts
    empty) is pulled from the first target that serves one. Then PublishError if the tree
    lacks packages a target serves and was not pruned of, so a lost tree stops the
    release before any droplet exists. A target that could not be read is left to the
    publish, which checks again under its lock.
    """
    paths = set(tree_paths(repo_dir))
    readable = [(target, manifest) for target, manifest in served if isinstance(manifest, Manifest)]
    for _, problem in served:
        if isinstance(problem, Manifest):
            continue
        if not paths:
            # It may serve the tree this release should build on: do not start afresh.
            raise PublishError(
                f"the local tree {repo_dir} is missing and a publish target cannot be "
                f"read to bring it back ({problem}): try again when it answers"
            )
        say(f"could not read what a publish target serves ({problem}); publishing checks it")
    if not paths:
        source = next((target for target, manifest in readable if manifest.files), None)
        if source is not None:
            say(f"the local tree {repo_dir} is missing: pulling it from {source.where}")
            say(f"pulled {pull_tree(source, repo_dir)} file(s) from {source.where}")
            paths = set(tree_paths(repo_dir))
    pruned = pruned_files(repo_dir)
    for target, manifest in readable:
        refuse_dropping(repo_dir, paths, pruned, manifest, target.where)
