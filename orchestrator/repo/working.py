"""A working copy of a repository tree: it replaces the tree in one step, or is thrown away.

A release indexes its packages into a copy of the local tree and publishes that copy; only
once a target serves it does the copy become the tree (one ``rename`` exchange). A run
that fails or is interrupted before leaves the tree as it was: nothing unpublished is ever
left in it for the next release to publish without record.

The copy is cheap: files are hard links, since the repository code never writes into a
file (it stages new files and directories beside the old ones and renames them over);
only ``.state/``, whose caches are written in place, is copied outright, without the
tree's lock.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from orchestrator.repo.layout import STATE
from orchestrator.repo.tree import TREE_LOCK, exchange


def _copy(source: Path, destination: Path) -> None:
    destination.mkdir(parents=True)
    if not source.is_dir():
        return
    for entry in source.iterdir():
        if entry.name == STATE:
            shutil.copytree(entry, destination / STATE, ignore=shutil.ignore_patterns(TREE_LOCK))
        elif entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, destination / entry.name, copy_function=os.link, symlinks=True)
        else:
            os.link(entry, destination / entry.name, follow_symlinks=False)


class WorkingCopy:
    """A copy of ``tree`` at ``path`` (made now); :meth:`commit` or :meth:`discard` it."""

    def __init__(self, tree: Path, path: Path) -> None:
        self.tree = tree
        self.path = path
        shutil.rmtree(path, ignore_errors=True)  # a copy an earlier attempt of the run left
        _copy(tree, path)

    def commit(self) -> None:
        """Make the copy the tree, in one step; the old tree goes."""
        self.tree.parent.mkdir(parents=True, exist_ok=True)
        exchange(self.path, self.tree)
        shutil.rmtree(self.path, ignore_errors=True)

    def discard(self) -> None:
        """Throw the copy away; the tree stays as it was."""
        shutil.rmtree(self.path, ignore_errors=True)
