"""Applying RPM changes to one ``rpm/<channel>/<arch>`` tree.

The tree's ``packages/`` directory is its membership (a channel and architecture has its own
copy of each signed package); ``repodata/`` is rebuilt beside the live one, ``repomd.xml``
is signed after it was written, and the directory is swapped in.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import RepositoryError
from orchestrator.repo.cache import MetadataCache, Parts
from orchestrator.repo.compress import segment_key, segments
from orchestrator.repo.layout import (
    REPODATA,
    REPOMD,
    REPOMD_SIGNATURE,
    RPM,
    RPM_PACKAGES,
    rpm_file_name,
    rpm_tree,
)
from orchestrator.repo.packages import RpmPackage, rpm_identity
from orchestrator.repo.rpm import (
    CHUNK_FORMAT,
    RpmEntry,
    read_entry,
    render_segment,
    write_repodata,
)
from orchestrator.repo.signing import SigningKey
from orchestrator.repo.tree import Staging

# Each tree has its own cache file, so one scope holds its segments.
_SCOPE = "repodata"


def rpm_trees(repo_dir: Path) -> list[tuple[str, str]]:
    """The ``(channel, arch)`` trees that exist under ``rpm/``."""
    root = repo_dir / RPM
    if not root.is_dir():
        return []
    return sorted(
        (channel.name, arch.name)
        for channel in root.iterdir()
        if channel.is_dir() and not channel.name.startswith(".")
        for arch in channel.iterdir()
        if not arch.name.startswith(".") and (arch / REPODATA / REPOMD).is_file()
    )


def target_href(package: RpmPackage) -> str:
    """Where a package lives inside its tree."""
    name = rpm_file_name(package.name, package.version, package.release, package.arch)
    return f"{RPM_PACKAGES}/{name}"


@dataclass(frozen=True)
class RepodataDraft:
    """What :meth:`RpmTree.prepare` read for new repodata: segments, and cached parts of it."""

    count: int
    segments: list[tuple[str, list[str]]]
    reused: dict[str, Parts]
    entries: dict[str, RpmEntry]


class RpmTree:
    """One RPM repository, read through its own metadata cache."""

    def __init__(self, repo_dir: Path, channel: str, arch: str, state_dir: Path) -> None:
        self.channel = channel
        self.arch = arch
        self.root = repo_dir / RPM / rpm_tree(channel, arch)
        self.cache = MetadataCache(state_dir / "cache" / f"rpm-{channel}-{arch}.sqlite")

    def hrefs(self) -> list[str]:
        """Every package file in the tree, relative to it."""
        directory = self.root / RPM_PACKAGES
        if not directory.is_dir():
            return []
        return sorted(
            f"{RPM_PACKAGES}/{entry.name}"
            for entry in os.scandir(directory)
            if entry.name.endswith(".rpm") and entry.is_file()
        )

    def entry(self, href: str) -> RpmEntry:
        """The package at ``href``, from the cache or, if it changed, from the file."""
        path = self.root / href
        stat = path.stat()
        cached = self._cached(href, stat)
        if cached is not None:
            return cached
        entry = read_entry(path, href, rpm_identity(path))
        self.cache.put(href, stat, entry.identity, entry.data())
        return entry

    def cached_entry(self, href: str) -> RpmEntry | None:
        """The package at ``href`` if the cache still describes its file."""
        try:
            stat = (self.root / href).stat()
        except FileNotFoundError:
            return None
        return self._cached(href, stat)

    def _cached(self, href: str, stat: os.stat_result) -> RpmEntry | None:
        cached = self.cache.get(href, stat)
        return RpmEntry.from_data(cached.data) if cached is not None else None

    def contains(self, package: RpmPackage) -> bool:
        """True if an identical package is in the tree; refuse a different one of that name."""
        href = target_href(package)
        target = self.root / href
        if not target.exists():
            return False
        cached = self.cache.get(href, target.stat())
        existing = cached.sha256 if cached is not None else rpm_identity(target)
        if existing != package.identity:
            raise RepositoryError(
                f"{package.path}: {package.name} {package.evr} ({package.arch}) is already in "
                f"{self.channel}/{self.arch} with different content: bump the version or release"
            )
        return True

    def place(self, signed: Path, package: RpmPackage, staging: Staging) -> str:
        """Copy a signed package into the tree; return its href."""
        href = target_href(package)
        target = self.root / href
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.added(target)
        shutil.copyfile(signed, target)
        return href

    def prepare(self, hrefs: Sequence[str]) -> RepodataDraft:
        """Read what new repodata for the packages at ``hrefs`` can take from the cache.

        Packages not yet in the tree (being signed) are left for :meth:`write` to read.
        """
        groups = segments(hrefs)
        keys = [segment_key(CHUNK_FORMAT, group) for group in groups]
        reused = self.cache.reusable_segments(_SCOPE, keys, groups)
        entries = {
            href: entry
            for key, group in zip(keys, groups, strict=True)
            if key not in reused
            for href in group
            if (entry := self.cached_entry(href)) is not None
        }
        return RepodataDraft(len(hrefs), list(zip(keys, groups, strict=True)), reused, entries)

    def write(
        self, draft: RepodataDraft, signer: SigningKey, staging: Staging, revision: int
    ) -> None:
        """Build ``repodata/`` from ``draft`` beside the live one, signed.

        Only segments that gained or lost packages are rendered and compressed again.
        """
        rendered: dict[str, Parts] = {
            key: draft.reused.get(key)
            or render_segment([draft.entries.get(href) or self.entry(href) for href in group])
            for key, group in draft.segments
        }
        self.cache.segments.replace(_SCOPE, rendered)
        staged = staging.directory(self.root / REPODATA)
        repomd = write_repodata(staged, list(rendered.values()), draft.count, revision)
        (staged / REPOMD).write_bytes(repomd)
        # The signature must describe the final repomd.xml, so it is made from those bytes.
        (staged / REPOMD_SIGNATURE).write_bytes(signer.detach_sign(repomd))
        (staged / f"{REPOMD}.key").write_text(signer.public_key, encoding="utf-8")

    def resign(self, signer: SigningKey, staging: Staging) -> None:
        """Re-sign the live ``repomd.xml`` (e.g. with a new key); metadata is kept."""
        live = self.root / REPODATA
        staged = staging.directory(live)
        for item in live.iterdir():
            if item.name not in (REPOMD_SIGNATURE, f"{REPOMD}.key") and item.is_file():
                os.link(item, staged / item.name)
        repomd = (live / REPOMD).read_bytes()
        (staged / REPOMD_SIGNATURE).write_bytes(signer.detach_sign(repomd))
        (staged / f"{REPOMD}.key").write_text(signer.public_key, encoding="utf-8")
