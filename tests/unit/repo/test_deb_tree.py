"""The pieces of writing a suite: which indexes are reused, and the by-hash copies kept."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from orchestrator.repo.deb import IndexEntry
from orchestrator.repo.deb_tree import (
    _index_entries,
    _link_from_live,
    _stage_by_hash,
    _unchanged,
    _write_staged,
)

DIRECTORY = "main/binary-amd64"
INDEXES = {"Packages": b"Package: hello\n", "Packages.gz": b"gz", "Packages.xz": b"xz"}


def entries() -> dict[str, IndexEntry]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        return _index_entries(DIRECTORY, INDEXES, executor)


def suites(tmp_path: Path) -> tuple[Path, Path]:
    live, staged = tmp_path / "live", tmp_path / "staged"
    (live / DIRECTORY).mkdir(parents=True)
    (staged / DIRECTORY).mkdir(parents=True)
    return live, staged


def test_each_index_is_described_under_its_directory() -> None:
    found = entries()
    assert list(found) == list(INDEXES)
    assert found["Packages.gz"] == IndexEntry.of(f"{DIRECTORY}/Packages.gz", b"gz")


def test_indexes_are_reused_only_when_the_live_suite_lists_and_holds_them(tmp_path: Path) -> None:
    live, staged = suites(tmp_path)
    new = entries()
    old = {entry.path: entry for entry in new.values()}
    assert not _unchanged(live, old, DIRECTORY, new)  # listed, but not on disk
    _write_staged(live, INDEXES, new)
    assert _unchanged(live, old, DIRECTORY, new)
    assert not _unchanged(live, {}, DIRECTORY, new)
    other = {**old, f"{DIRECTORY}/Packages": IndexEntry.of(f"{DIRECTORY}/Packages", b"other")}
    assert not _unchanged(live, other, DIRECTORY, new)

    assert _link_from_live(live, staged, old, new) == list(old.values())
    packages = staged / DIRECTORY / "Packages"
    assert packages.read_bytes() == INDEXES["Packages"]
    assert packages.stat().st_ino == (live / DIRECTORY / "Packages").stat().st_ino


def test_new_indexes_are_written_into_the_staged_suite(tmp_path: Path) -> None:
    _, staged = suites(tmp_path)
    new = entries()
    assert _write_staged(staged, INDEXES, new) == list(new.values())
    assert (staged / DIRECTORY / "Packages.xz").read_bytes() == b"xz"


def test_by_hash_copies_of_kept_generations_are_linked_in(tmp_path: Path) -> None:
    live, staged = suites(tmp_path)
    new = entries()
    _write_staged(staged, INDEXES, new)
    kept = f"{DIRECTORY}/by-hash/SHA256/{'a' * 64}"
    (live / kept).parent.mkdir(parents=True)
    (live / kept).write_bytes(b"older Packages")
    lost = f"{DIRECTORY}/by-hash/SHA256/{'b' * 64}"

    generations = _stage_by_hash(live, staged, list(new.values()), [[lost], [kept]], keep=2)

    assert generations[0] == [kept] and len(generations) == 2
    assert (staged / kept).read_bytes() == b"older Packages"
    packages = new["Packages"]
    copy = staged / DIRECTORY / "by-hash" / "SHA512" / packages.sha512
    assert copy.read_bytes() == INDEXES["Packages"]
    assert len(generations[1]) == 2 * len(INDEXES)
    assert not (staged / lost).exists()
