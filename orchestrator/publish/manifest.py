"""Manifests: the size and SHA-256 of every published file, and the files lately retired.

A manifest describes one published state: a snapshot on the repo server, or a bucket. Its
``files`` are the repository tree; its ``retired`` entries are files that an earlier tree had
and the current one no longer lists, kept for a while because a client that read the
previous metadata a moment ago may still fetch them. Publishing compares the manifest of
what is out there with the next one, so it never lists a bucket or hashes a remote tree.
Pure data and arithmetic; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.errors import PublishError
from orchestrator.repo.layout import PACKAGE_SUFFIXES

FORMAT = 1


@dataclass(frozen=True)
class FileInfo:
    """A file's size in bytes and its SHA-256 in hex."""

    size: int
    sha256: str


@dataclass(frozen=True)
class Retired:
    """A file no longer in the tree, and since when."""

    info: FileInfo
    since: datetime


@dataclass(frozen=True)
class Manifest:
    """The files of a published state, by path relative to its root."""

    files: Mapping[str, FileInfo] = field(default_factory=dict)
    retired: Mapping[str, Retired] = field(default_factory=dict)

    def stored(self) -> dict[str, FileInfo]:
        """Every file that is out there: the tree and the retired files."""
        present = {path: entry.info for path, entry in self.retired.items()}
        present.update(self.files)
        return present

    def to_json(self) -> bytes:
        """The manifest as the JSON document stored beside the files."""
        document = {
            "format": FORMAT,
            "files": {path: [info.size, info.sha256] for path, info in sorted(self.files.items())},
            "retired": {
                path: [entry.info.size, entry.info.sha256, entry.since.isoformat()]
                for path, entry in sorted(self.retired.items())
            },
        }
        return json.dumps(document, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, source: str) -> Manifest:
        """Parse a stored manifest; ``source`` names it in the error."""
        try:
            document = json.loads(data)
            if document.get("format") != FORMAT:
                raise ValueError(f"unknown format {document.get('format')!r}")
            files = {
                str(path): FileInfo(int(size), str(digest))
                for path, (size, digest) in document["files"].items()
            }
            retired = {
                str(path): Retired(FileInfo(int(size), str(digest)), datetime.fromisoformat(since))
                for path, (size, digest, since) in document["retired"].items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise PublishError(
                f"{source} is not a manifest this tool wrote ({error}); move it away to "
                "publish everything again"
            ) from None
        return cls(files, retired)


@dataclass(frozen=True)
class Changes:
    """What turning one published state into the next takes."""

    upload: list[str]
    remove: list[str]

    @property
    def empty(self) -> bool:
        """Whether nothing is to be uploaded or removed."""
        return not self.upload and not self.remove


def next_manifest(
    previous: Manifest,
    tree: Mapping[str, FileInfo],
    now: datetime,
    expire_before: datetime | None,
) -> Manifest:
    """The manifest after publishing ``tree`` over ``previous``.

    Files that left the tree are retired as of ``now``; retired files that came back are
    in the tree again; retired files older than ``expire_before`` are dropped (None keeps
    them all: the bucket's garbage collector removes them, not the publish).
    """
    retired = {
        path: entry
        for path, entry in previous.retired.items()
        if path not in tree and (expire_before is None or entry.since >= expire_before)
    }
    for path, info in previous.files.items():
        if path not in tree:
            retired[path] = Retired(info, now)
    return Manifest(dict(tree), retired)


def dropped_packages(
    previous: Manifest, tree: Collection[str], pruned: Collection[str]
) -> list[str]:
    """Package files ``previous`` lists that ``tree`` (paths) lacks and was not pruned of, sorted.

    Publishing ``tree`` over ``previous`` would take them away from clients, though no one
    removed them on purpose: the tree lost them, or it is a fresh tree on a new machine.
    """
    return sorted(
        path
        for path in previous.files
        if path.endswith(PACKAGE_SUFFIXES) and path not in tree and path not in pruned
    )


def changes(previous: Manifest, following: Manifest) -> Changes:
    """Files to upload (new or different content) and stored files to remove, sorted."""
    before = previous.stored()
    after = following.stored()
    upload = sorted(path for path, info in following.files.items() if before.get(path) != info)
    remove = sorted(path for path in before if path not in after)
    return Changes(upload, remove)


def expired(manifest: Manifest, before: datetime) -> tuple[list[str], Manifest]:
    """Retired files older than ``before``, and the manifest without them."""
    gone = sorted(path for path, entry in manifest.retired.items() if entry.since < before)
    kept = {path: entry for path, entry in manifest.retired.items() if path not in gone}
    return gone, Manifest(manifest.files, kept)
