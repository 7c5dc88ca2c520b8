"""Caches in a tree's state directory, so re-indexing reads only new or changed files.

:class:`MetadataCache` holds parsed package metadata keyed by the package's path in the
tree, trusted only while the file's size and modification time still match; each entry also
records the file's checksum, which lets a conflict check compare a new file with a stored
one without reading the stored one. :class:`SegmentCache` keeps rendered and compressed pieces
of indexes (see :mod:`orchestrator.repo.compress`). Both live in one SQLite file per cache,
written only when a change has been swapped in; a missing or damaged file is recreated and
everything is read again.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# WAL with synchronous=NORMAL survives a crashed process without an fsync per commit; a
# cache lost to a power cut is rebuilt from the packages.
_SCHEMA_VERSION = 2
# SQLite allows 32766 parameters per statement since 3.32; stay far below.
_PREFETCH_CHUNK = 500
_DROP = "DROP TABLE IF EXISTS entries; DROP TABLE IF EXISTS segments;"
_SCHEMA = f"""
PRAGMA user_version = {_SCHEMA_VERSION};
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, checksum TEXT, data TEXT);
CREATE TABLE IF NOT EXISTS segments (
    scope TEXT, key TEXT, part TEXT, data BLOB, PRIMARY KEY (scope, key, part));
"""


@dataclass(frozen=True)
class CacheEntry:
    """What was read from one package file, and the file's identity when it was read."""

    size: int
    mtime_ns: int
    sha256: str
    data: dict[str, str]

    def matches(self, stat: os.stat_result) -> bool:
        """Whether the file still looks like the one that was read."""
        return self.size == stat.st_size and self.mtime_ns == stat.st_mtime_ns


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        connection = sqlite3.connect(path)
        if connection.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
            # Written by another version of this tool: drop it and read the packages again.
            connection.executescript(_DROP)
        connection.executescript(_SCHEMA)
    except sqlite3.DatabaseError:
        # A damaged cache is only a cache: start again from the packages themselves.
        path.unlink(missing_ok=True)
        connection = sqlite3.connect(path)
        connection.executescript(_SCHEMA)
    return connection


class MetadataCache:
    """Package metadata keyed by path relative to the tree; rows are read on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = _connect(path)
        self._changed: dict[str, CacheEntry | None] = {}
        self._prefetched: dict[str, CacheEntry | None] = {}
        self.segments = SegmentCache(self._db)

    def prefetch(self, keys: Iterable[str]) -> None:
        """Read the entries of ``keys`` in a few queries, ahead of :meth:`get` calls.

        Re-rendering a segment reads every entry in it; one query per chunk of keys costs
        a fraction of one query per key.
        """
        wanted = [key for key in keys if key not in self._changed]
        for start in range(0, len(wanted), _PREFETCH_CHUNK):
            chunk = wanted[start : start + _PREFETCH_CHUNK]
            self._prefetched.update(dict.fromkeys(chunk))
            placeholders = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT key, size, mtime_ns, checksum, data FROM entries "
                f"WHERE key IN ({placeholders})",
                chunk,
            )
            for key, size, mtime_ns, checksum, data in rows:
                self._prefetched[key] = CacheEntry(size, mtime_ns, checksum, json.loads(data))

    def reusable_segments(
        self, scope: str, keys: Sequence[str], groups: Sequence[Sequence[str]]
    ) -> dict[str, Parts]:
        """The cached segments among ``keys`` (each naming the packages of its group).

        The entries of the groups that must be rendered again are prefetched, since
        rendering reads every one of them.
        """
        cached = self.segments.scope(scope)
        reused = {key: cached[key] for key in keys if key in cached}
        self.prefetch(
            name
            for key, group in zip(keys, groups, strict=True)
            if key not in reused
            for name in group
        )
        return reused

    def peek(self, key: str) -> CacheEntry | None:
        """The entry for ``key`` without checking the file (it may be stale)."""
        if key in self._changed:
            return self._changed[key]
        if key in self._prefetched:
            return self._prefetched[key]
        row = self._db.execute(
            "SELECT size, mtime_ns, checksum, data FROM entries WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        size, mtime_ns, checksum, data = row
        return CacheEntry(size, mtime_ns, checksum, json.loads(data))

    def get(self, key: str, stat: os.stat_result) -> CacheEntry | None:
        """The entry for ``key`` if the file described by ``stat`` is unchanged."""
        entry = self.peek(key)
        return entry if entry is not None and entry.matches(stat) else None

    def put(self, key: str, stat: os.stat_result, checksum: str, data: dict[str, str]) -> None:
        """Record what was read from the file at ``key``."""
        self._changed[key] = CacheEntry(stat.st_size, stat.st_mtime_ns, checksum, data)

    def discard(self, key: str) -> None:
        """Forget ``key`` (its file was removed)."""
        self._changed[key] = None

    def save(self) -> None:
        """Write the changed entries and segments in one transaction."""
        with self._db:
            self._db.executemany(
                "DELETE FROM entries WHERE key = ?",
                ((key,) for key, entry in self._changed.items() if entry is None),
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)",
                (
                    (key, entry.size, entry.mtime_ns, entry.sha256, json.dumps(entry.data))
                    for key, entry in self._changed.items()
                    if entry is not None
                ),
            )
            self.segments.flush()
        self._prefetched.update(self._changed)
        self._changed.clear()

    def close(self) -> None:
        """Close the database; unsaved changes are dropped."""
        self._db.close()


Parts = dict[str, bytes]


class SegmentCache:
    """Rendered index segments, as named byte parts, keyed by scope and segment key."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._pending: dict[str, dict[str, Parts]] = {}

    def scope(self, scope: str) -> dict[str, Parts]:
        """Every cached segment of ``scope``, by key, read in one query.

        An index is written whole, so every segment of it is read anyway.
        """
        found: dict[str, Parts] = {}
        rows = self._db.execute("SELECT key, part, data FROM segments WHERE scope = ?", (scope,))
        for key, part, data in rows:
            found.setdefault(key, {})[part] = bytes(data)
        return found

    def replace(self, scope: str, segments: dict[str, Parts]) -> None:
        """Make ``segments`` the whole content of ``scope`` on the next save."""
        self._pending[scope] = segments

    def flush(self) -> None:
        """Write pending scopes (inside the caller's transaction)."""
        for scope, segments in self._pending.items():
            known = {
                key
                for (key,) in self._db.execute(
                    "SELECT DISTINCT key FROM segments WHERE scope = ?", (scope,)
                )
            }
            self._db.executemany(
                "DELETE FROM segments WHERE scope = ? AND key = ?",
                ((scope, key) for key in known - segments.keys()),
            )
            self._db.executemany(
                "INSERT INTO segments VALUES (?, ?, ?, ?)",
                (
                    (scope, key, part, data)
                    for key, parts in segments.items()
                    if key not in known
                    for part, data in parts.items()
                ),
            )
        self._pending.clear()
