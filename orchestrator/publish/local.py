"""The local repository tree as a publisher sees it: the published part, hashed.

Only :data:`orchestrator.repo.layout.PUBLISHED` is published; ``.state/`` and the
dot-named directories a repository change stages beside the live ones stay private.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import UsageError
from orchestrator.publish.manifest import FileInfo
from orchestrator.repo.layout import KEYS, PUBLISHED

_CHUNK = 1 << 20
# sha256sum -c and the tar stream need plain names; the tree never makes others.
_UNSAFE = ("\n", "\\", "\r")


@dataclass(frozen=True)
class LocalTree:
    """A repository tree on disk and the manifest of its published files."""

    root: Path
    files: dict[str, FileInfo]

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


def file_info(path: Path) -> FileInfo:
    """Size and SHA-256 of one file."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileInfo(size, digest.hexdigest())


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


def scan_tree(root: Path) -> LocalTree:
    """Read the published part of the tree at ``root``; UsageError if it is not a tree."""
    if not root.is_dir():
        raise UsageError(f"repository {root} does not exist: pass --repo DIR")
    paths = [path for top in PUBLISHED if (root / top).exists() for path in _walk(root, top)]
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
    return LocalTree(root, {path: file_info(root / path) for path in paths})
