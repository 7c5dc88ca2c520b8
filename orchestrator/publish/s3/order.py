"""The order objects go up in, and how long caches may keep them; pure.

Object storage has no atomic multi-object update, so uploads go in tiers, each finished
before the next starts, so that whatever a client reads only points at objects already
there::

    0  pool packages and RPM packages, keys, client files, the landing page
    1  APT by-hash indexes, hash-named RPM repodata (and repomd.xml.key)
    2  plain APT indexes (Packages, Packages.gz, Packages.xz)
    3  Release and Release.gpg; repomd.xml.asc then repomd.xml, back to back
    4  InRelease

``repomd.xml`` and its signature are two objects, and no order of two uploads is atomic:
a client whose two reads straddle them sees one old and one new. dnf reads both again
once after a bad signature, and that second read is consistent unless it too starts
between the two uploads, so they go back to back from one worker to keep that window to
one request. The signature goes first, so the object that tells dnf what to fetch next
(``repomd.xml``) is the last one to change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from orchestrator.repo.layout import DEB, REPODATA, REPOMD, REPOMD_SIGNATURE, RPM, RPM_PACKAGES

Job = tuple[str, ...]
"""Paths one worker uploads back to back, in order."""

POOL, BY_HASH, INDEX, RELEASE, IN_RELEASE = range(5)
TIERS = 5

# Objects whose name changes whenever their content does may be cached for ever.
IMMUTABLE = "public, max-age=31536000, immutable"
# Metadata changes under a fixed name: caches must come back soon, or clients see it late.
METADATA = "public, max-age=60"

_HASH_NAMED = re.compile(r"[0-9a-f]{64}-[^/]+")

_CONTENT_TYPES = {
    ".deb": "application/vnd.debian.binary-package",
    ".rpm": "application/x-rpm",
    ".gz": "application/gzip",
    ".xz": "application/x-xz",
    ".zst": "application/zstd",
    ".bz2": "application/x-bzip2",
    ".xml": "application/xml",
    ".html": "text/html; charset=utf-8",
    ".gpg": "application/pgp-keys",
    ".asc": "text/plain; charset=utf-8",
    ".repo": "text/plain; charset=utf-8",
    ".sources": "text/plain; charset=utf-8",
    ".list": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


def _parts(path: str) -> list[str]:
    return path.split("/")


def _is_rpm_package(parts: list[str]) -> bool:
    # rpm/<channel>/<arch>/packages/<file>
    return len(parts) == 5 and parts[0] == RPM and parts[3] == RPM_PACKAGES


def _repodata_name(parts: list[str]) -> str | None:
    # rpm/<channel>/<arch>/repodata/<file>
    if len(parts) == 5 and parts[0] == RPM and parts[3] == REPODATA:
        return parts[4]
    return None


def tier(path: str) -> int:
    """The tier a path is uploaded in (see the module docstring)."""
    parts = _parts(path)
    if parts[0] == DEB and len(parts) > 2 and parts[1] == "dists":
        name = parts[-1]
        if "by-hash" in parts:
            return BY_HASH
        if len(parts) == 4 and name in ("Release", "Release.gpg"):
            return RELEASE
        if len(parts) == 4 and name == "InRelease":
            return IN_RELEASE
        return INDEX
    repodata = _repodata_name(parts)
    if repodata is not None:
        return RELEASE if repodata in (REPOMD, REPOMD_SIGNATURE) else BY_HASH
    return POOL


def is_immutable(path: str) -> bool:
    """Whether the object's name changes with its content (pool, by-hash, hash-named)."""
    parts = _parts(path)
    if parts[0] == DEB and len(parts) > 1 and parts[1] == "pool":
        return True
    if parts[0] == DEB and "by-hash" in parts:
        return True
    if _is_rpm_package(parts):
        return True
    repodata = _repodata_name(parts)
    return repodata is not None and _HASH_NAMED.fullmatch(repodata) is not None


def cache_control(path: str) -> str:
    """The ``Cache-Control`` header of an object."""
    return IMMUTABLE if is_immutable(path) else METADATA


def content_type(path: str) -> str:
    """The ``Content-Type`` of an object, by name."""
    name = path.rsplit("/", 1)[-1]
    if name in ("Release", "InRelease", "Packages"):
        return "text/plain; charset=utf-8"
    suffix = name[name.rfind(".") :] if "." in name else ""
    return _CONTENT_TYPES.get(suffix, "application/octet-stream")


def upload_tiers(paths: Iterable[str]) -> list[list[Job]]:
    """The uploads as tiers of jobs; empty tiers are left out, jobs are sorted."""
    tiers: list[list[Job]] = [[] for _ in range(TIERS)]
    pairs: dict[str, list[str]] = {}
    for path in sorted(paths):
        parts = _parts(path)
        repodata = _repodata_name(parts)
        if repodata in (REPOMD, REPOMD_SIGNATURE):
            pairs.setdefault(path.rsplit("/", 1)[0], []).append(path)
        else:
            tiers[tier(path)].append((path,))
    for directory in sorted(pairs):
        # repomd.xml.asc first, repomd.xml last (see the module docstring).
        tiers[RELEASE].append(tuple(sorted(pairs[directory], reverse=True)))
    return [sorted(jobs) for jobs in tiers if jobs]
