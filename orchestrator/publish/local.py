"""The local repository tree as a publisher sees it: the published part, hashed.

Only :data:`orchestrator.repo.layout.PUBLISHED` is published; ``.state/`` and the
dot-named directories a repository change stages beside the live ones stay private.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import PublishError, UsageError
from orchestrator.publish.manifest import FileInfo, Manifest, dropped_packages
from orchestrator.repo.layout import KEYS, PUBLISHED
from orchestrator.repo.pruned import pruned_files

# sha256sum -c and the tar stream need plain names; the tree never makes others.
_UNSAFE = ("\n", "\\", "\r")


@dataclass(frozen=True)
class LocalTree:
    """A repository tree on disk, the manifest of its published files, and what it pruned."""

    root: Path
    files: dict[str, FileInfo]
    pruned: frozenset[str] = field(default_factory=frozenset)

    def path(self, relative: str) -> Path:
        """The file at ``relative`` (a manifest path)."""
        return self.root / relative

    def key_file(self) -> str:
        """The armored public key's path in the tree (``keys/<project>.asc``)."""
        keys = sorted(p for p in self.files if p.startswith(f"{KEYS}/") and p.endswith(".asc"))
        if len(keys) != 1:
            raise UsageError(
                f"{self.root} should hold exactly one {KEYS}/*.asc public key, found "
                f"{len(keys)}: build it with invoke repo.build"
            )
        return keys[0]

    def check_keeps(self, served: Manifest, where: str) -> None:
        """Raise :class:`PublishError` if publishing would remove packages ``served`` lists.

        Only packages the tree was pruned of may go (see :mod:`orchestrator.repo.pruned`).
        """
        refuse_dropping(self.root, self.files, self.pruned, served, where)


def refuse_dropping(
    root: Path, paths: Collection[str], pruned: Collection[str], served: Manifest, where: str
) -> None:
    """Raise :class:`PublishError` if a tree of ``paths`` lacks packages ``served`` lists."""
    dropped = dropped_packages(served, paths, pruned)
    if dropped:
        raise PublishError(
            f"{where}: the tree at {root} lacks {len(dropped)} package(s) published there, "
            f"such as {dropped[0]}, and publishing would remove them: keep the tree between "
            f"releases; to start again from what is served, move {root} away and run invoke "
            "repo.pull; pass --allow-removals to invoke repo.publish if they should go"
        )


def file_info(path: Path) -> FileInfo:
    """Size and SHA-256 of one file."""
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")
        return FileInfo(handle.tell(), digest.hexdigest())


def _walk(root: Path, top: str) -> list[str]:
    start = root / top
    if start.is_file():
        return [top]
    found: list[str] = []
    for directory, subdirectories, names in os.walk(start):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        base = Path(directory).relative_to(root)
        found.extend(str(base / name) for name in sorted(names) if not name.startswith("."))
    return found


def tree_paths(root: Path) -> list[str]:
    """The published files of the tree at ``root`` (none if it is missing), not read."""
    return [path for top in PUBLISHED if (root / top).exists() for path in _walk(root, top)]


def scan_tree(root: Path) -> LocalTree:
    """Read the published part of the tree at ``root``; UsageError if it is not a tree."""
    if not root.is_dir():
        raise UsageError(f"repository {root} does not exist: pass --repo DIR")
    paths = tree_paths(root)
    if not any(path.startswith(f"{KEYS}/") for path in paths):
        raise UsageError(
            f"{root} is not a repository tree (no {KEYS}/ directory): build one with "
            "invoke repo.build"
        )
    for path in paths:
        if any(character in path for character in _UNSAFE):
            raise UsageError(
                f"{root / path}: file names with newlines or backslashes cannot be published"
            )
    files = {path: file_info(root / path) for path in paths}
    return LocalTree(root, files, pruned_files(root))
