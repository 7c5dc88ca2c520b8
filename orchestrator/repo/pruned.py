"""The record of package files a tree dropped on purpose (``invoke repo.prune``).

Publishing refuses to take a package away from a target unless this record lists it (see
:func:`orchestrator.publish.manifest.dropped_packages`), so a tree that lost files, or a
fresh one on a new CI runner, cannot silently unpublish earlier releases. A package that is
added again leaves the record. Paths are relative to the tree root, as in manifests.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

from orchestrator.engine.atomic import write_json_atomically
from orchestrator.repo.layout import STATE

RECORD = "pruned.json"


def _record(repo_dir: Path) -> Path:
    return repo_dir / STATE / RECORD


def pruned_files(repo_dir: Path) -> frozenset[str]:
    """The package files the tree at ``repo_dir`` was pruned of; none if never pruned."""
    try:
        loaded = json.loads(_record(repo_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        # A lost or unreadable record allows nothing: publishing then refuses to remove.
        return frozenset()
    return frozenset(str(path) for path in loaded) if isinstance(loaded, list) else frozenset()


def update_pruned(repo_dir: Path, removed: Collection[str], added: Collection[str]) -> None:
    """Record files the tree dropped on purpose, and forget those it holds again."""
    before = pruned_files(repo_dir)
    after = (before | set(removed)) - set(added)
    if after != before:
        write_json_atomically(_record(repo_dir), sorted(after))
