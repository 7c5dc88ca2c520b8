from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from orchestrator.errors import PublishError, UsageError
from orchestrator.publish.local import scan_tree
from orchestrator.publish.manifest import FileInfo, Manifest
from orchestrator.repo.pruned import update_pruned


def _write(root: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)


def test_only_the_published_part_is_scanned(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "keys/demo.asc": b"key",
            "deb/dists/stable/InRelease": b"signed",
            "deb/dists/.stable.new/InRelease": b"staged",
            "rpm/demo-stable.repo": b"[demo]",
            "index.html": b"<html>",
            ".state/cache/deb.sqlite": b"private",
            "notes.txt": b"not published",
        },
    )

    tree = scan_tree(tmp_path)

    assert sorted(tree.files) == [
        "deb/dists/stable/InRelease",
        "index.html",
        "keys/demo.asc",
        "rpm/demo-stable.repo",
    ]
    assert tree.files["index.html"] == FileInfo(6, hashlib.sha256(b"<html>").hexdigest())
    assert tree.key_file() == "keys/demo.asc"


def test_not_a_tree(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        scan_tree(tmp_path / "missing")
    _write(tmp_path, {"deb/x": b"x"})
    with pytest.raises(UsageError, match="not a repository tree"):
        scan_tree(tmp_path)


def test_unsafe_names_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, {"keys/demo.asc": b"k", "deb/a\\b": b"x"})
    with pytest.raises(UsageError, match="backslashes"):
        scan_tree(tmp_path)


def test_a_tree_refuses_to_drop_published_packages_it_was_not_pruned_of(tmp_path: Path) -> None:
    kept, lost = (
        "deb/pool/main/d/demo/demo_1.1_amd64.deb",
        "deb/pool/main/d/demo/demo_1.0_amd64.deb",
    )
    _write(tmp_path, {"keys/demo.asc": b"key", kept: b"new"})
    served = Manifest({lost: FileInfo(3, "a" * 64), kept: FileInfo(3, "b" * 64)})

    with pytest.raises(
        PublishError, match=rf"lacks 1 package\(s\) published there, such as {lost}"
    ):
        scan_tree(tmp_path).check_keeps(served, "repo")
    update_pruned(tmp_path, removed=[lost], added=())
    scan_tree(tmp_path).check_keeps(served, "repo")
