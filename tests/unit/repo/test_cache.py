from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from orchestrator.repo.cache import MetadataCache


def _stat(path: Path) -> os.stat_result:
    return path.stat()


def test_entries_survive_a_save_and_follow_the_file(tmp_path: Path) -> None:
    package = tmp_path / "p.deb"
    package.write_bytes(b"one")
    cache = MetadataCache(tmp_path / "state" / "cache.sqlite")
    cache.put("p.deb", _stat(package), "sum", {"name": "p"})
    cache.save()
    cache.close()

    reopened = MetadataCache(tmp_path / "state" / "cache.sqlite")
    entry = reopened.get("p.deb", _stat(package))
    assert entry is not None and entry.data == {"name": "p"} and entry.sha256 == "sum"

    package.write_bytes(b"changed size")
    assert reopened.get("p.deb", _stat(package)) is None
    assert reopened.peek("p.deb") is not None
    reopened.close()


def test_a_new_mtime_invalidates_an_entry(tmp_path: Path) -> None:
    package = tmp_path / "p.deb"
    package.write_bytes(b"one")
    cache = MetadataCache(tmp_path / "c.sqlite")
    cache.put("p.deb", _stat(package), "sum", {})
    stat = _stat(package)
    os.utime(package, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert cache.get("p.deb", _stat(package)) is None
    cache.close()


def test_unsaved_changes_are_dropped(tmp_path: Path) -> None:
    package = tmp_path / "p.deb"
    package.write_bytes(b"one")
    cache = MetadataCache(tmp_path / "c.sqlite")
    cache.put("p.deb", _stat(package), "sum", {})
    cache.close()
    again = MetadataCache(tmp_path / "c.sqlite")
    assert again.peek("p.deb") is None
    again.close()


def test_discard_removes_an_entry(tmp_path: Path) -> None:
    package = tmp_path / "p.deb"
    package.write_bytes(b"one")
    cache = MetadataCache(tmp_path / "c.sqlite")
    cache.put("p.deb", _stat(package), "sum", {})
    cache.save()
    cache.discard("p.deb")
    cache.save()
    assert cache.peek("p.deb") is None
    cache.close()


def test_prefetched_entries_answer_like_queried_ones(tmp_path: Path) -> None:
    packages = [tmp_path / f"p{i}.deb" for i in range(3)]
    cache = MetadataCache(tmp_path / "c.sqlite")
    for package in packages:
        package.write_bytes(package.name.encode())
        cache.put(package.name, _stat(package), f"sum-{package.name}", {"name": package.name})
    cache.save()
    cache.close()

    cache = MetadataCache(tmp_path / "c.sqlite")
    cache.prefetch(["p0.deb", "p1.deb", "missing.deb"])
    entry = cache.get("p0.deb", _stat(packages[0]))
    assert entry is not None and entry.data == {"name": "p0.deb"}
    assert cache.peek("missing.deb") is None
    assert cache.peek("p2.deb") is not None  # not prefetched: read on demand

    # A change saved after the prefetch wins over what was prefetched.
    packages[1].write_bytes(b"rebuilt")
    cache.put("p1.deb", _stat(packages[1]), "new-sum", {"name": "p1.deb"})
    cache.save()
    entry = cache.get("p1.deb", _stat(packages[1]))
    assert entry is not None and entry.sha256 == "new-sum"
    cache.discard("p0.deb")
    cache.save()
    assert cache.peek("p0.deb") is None
    cache.close()


def test_a_damaged_cache_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"definitely not sqlite" * 100)
    cache = MetadataCache(path)
    assert cache.peek("anything") is None
    cache.close()


def test_segments_are_replaced_per_scope(tmp_path: Path) -> None:
    cache = MetadataCache(tmp_path / "c.sqlite")
    one, two = {"raw": b"one", "gz": b"1"}, {"raw": b"two", "gz": b"2"}
    cache.segments.replace("stable/amd64", {"k1": one, "k2": two})
    cache.segments.replace("testing/amd64", {"k1": one})
    cache.save()
    assert cache.segments.scope("stable/amd64") == {"k1": one, "k2": two}
    cache.segments.replace("stable/amd64", {"k2": two})
    cache.save()
    assert cache.segments.scope("stable/amd64") == {"k2": two}
    assert cache.segments.scope("testing/amd64") == {"k1": one}
    cache.close()


def test_a_cache_of_another_schema_version_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE segments (scope TEXT, key TEXT, raw BLOB)")
        old.execute("INSERT INTO segments VALUES ('s', 'k', x'00')")
    cache = MetadataCache(path)
    assert cache.segments.scope("s") == {}
    cache.segments.replace("s", {"k": {"raw": b"new"}})
    cache.save()
    assert cache.segments.scope("s") == {"k": {"raw": b"new"}}
    cache.close()
