"""Applying APT changes to a tree: the append-only pool, and suites rebuilt beside and swapped.

A suite's membership is what its published ``Packages`` indexes list, so the tree itself is
the record of which versions a channel holds; the metadata cache only spares re-reading
the .deb files.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from orchestrator.engine.atomic import write_atomically
from orchestrator.errors import RepositoryError
from orchestrator.repo import deb
from orchestrator.repo.cache import MetadataCache, Parts
from orchestrator.repo.compress import XzBlock, gzip_member, segment_key, xz_block, xz_stream
from orchestrator.repo.layout import (
    COMPONENT,
    binary_dir,
    by_hash_paths,
    deb_file_name,
    pool_file_arch,
    pool_path,
    suite_dir,
)
from orchestrator.repo.options import RepoOptions
from orchestrator.repo.packages import DebPackage, file_digests, read_deb
from orchestrator.repo.signing import SigningKey
from orchestrator.repo.tree import Staging


@dataclass(frozen=True)
class DebEntry:
    """A .deb in the pool and its ``Packages`` paragraph."""

    filename: str
    name: str
    version: str
    arch: str
    sha256: str
    stanza: str


def _entry(package: DebPackage, filename: str) -> DebEntry:
    control = package.control
    return DebEntry(
        filename=filename,
        name=control.name,
        version=control.version,
        arch=control.arch,
        sha256=package.digests.sha256,
        stanza=deb.packages_stanza(control, filename, package.digests),
    )


class DebPool:
    """The ``deb/pool`` of a tree, read through the metadata cache."""

    def __init__(self, deb_dir: Path, cache: MetadataCache) -> None:
        self.deb_dir = deb_dir
        self.cache = cache

    def entry(self, filename: str) -> DebEntry:
        """The pool file ``filename``, from the cache or, if it changed, from the file."""
        path = f"{self.deb_dir}/{filename}"
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            raise RepositoryError(
                f"{path} is listed in an index but missing from the pool: restore it, or "
                "run invoke repo.prune to re-index"
            ) from None
        cached = self.cache.get(filename, stat)
        if cached is not None:
            data = cached.data
            return DebEntry(
                filename, data["name"], data["version"], data["arch"], cached.sha256, data["stanza"]
            )
        entry = _entry(read_deb(Path(path)), filename)
        self._remember(entry, stat)
        return entry

    def _present(self, package: DebPackage, filename: str) -> bool:
        """True if an identical file is in the pool; refuse a different one of that name.

        A different file under the same name means the same name, version and architecture
        was built twice with different content, which apt clients would reject.
        """
        target = self.deb_dir / filename
        if not target.exists():
            return False
        cached = self.cache.get(filename, target.stat())
        existing = cached.sha256 if cached is not None else file_digests(target).sha256
        if existing != package.digests.sha256:
            control = package.control
            raise RepositoryError(
                f"{package.path}: {control.name} {control.version} ({control.arch}) is "
                "already in the repository with different content: bump the version"
            )
        return True

    def place(self, packages: Sequence[DebPackage], staging: Staging) -> list[str]:
        """Put packages in the pool unless identical files are there; return their filenames."""
        filenames = []
        for package in packages:
            control = package.control
            name = deb_file_name(control.name, control.version, control.arch)
            filename = pool_path(control.source, name)
            filenames.append(filename)
            if self._present(package, filename):
                continue
            target = self.deb_dir / filename
            target.parent.mkdir(parents=True, exist_ok=True)
            staging.added(target)
            shutil.copyfile(package.path, target)
            self._remember(_entry(package, filename), target.stat())
        return filenames

    def _remember(self, entry: DebEntry, stat: os.stat_result) -> None:
        data = {
            "name": entry.name,
            "version": entry.version,
            "arch": entry.arch,
            "stanza": entry.stanza,
        }
        self.cache.put(entry.filename, stat, entry.sha256, data)

    def members(self, channel: str) -> set[str]:
        """Pool filenames the published suite ``channel`` lists, over all architectures."""
        component = self.deb_dir / suite_dir(channel) / COMPONENT
        if not component.is_dir():
            return set()
        names: set[str] = set()
        for index in component.glob("binary-*/Packages"):
            names.update(deb.filenames_in_packages(index.read_bytes()))
        return names

    def suites(self) -> list[str]:
        """The suites that exist in the tree (staged ones, still hidden, excluded)."""
        dists = self.deb_dir / "dists"
        if not dists.is_dir():
            return []
        return sorted(
            path.name
            for path in dists.iterdir()
            if not path.name.startswith(".") and (path / "Release").is_file()
        )


@dataclass(frozen=True)
class SuiteUpdate:
    """What writing a suite changed, and the by-hash generations to remember."""

    channel: str
    rewritten: list[str]
    generations: list[list[str]]


def _generations_file(state_dir: Path, channel: str) -> Path:
    return state_dir / "deb" / f"by-hash-{channel}.json"


def load_generations(state_dir: Path, channel: str) -> list[list[str]]:
    """The remembered by-hash generations of a suite; none if the record was lost."""
    try:
        loaded = json.loads(_generations_file(state_dir, channel).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [list(map(str, generation)) for generation in loaded]


def save_generations(state_dir: Path, update: SuiteUpdate) -> None:
    """Remember the by-hash generations of a suite after it was swapped in."""
    write_atomically(_generations_file(state_dir, update.channel), json.dumps(update.generations))


def _render(raw: bytes) -> Parts:
    block = xz_block(raw)
    return {
        "raw": raw,
        "gz": gzip_member(raw),
        "xz": block.data,
        "xz-unpadded": struct.pack("<Q", block.unpadded_size),
    }


def _xz(parts: Parts) -> XzBlock:
    (unpadded,) = struct.unpack("<Q", parts["xz-unpadded"])
    return XzBlock(parts["xz"], unpadded, len(parts["raw"]))


def _indexes(
    pool: DebPool, scope: str, groups: list[list[str]], executor: ThreadPoolExecutor
) -> dict[str, bytes]:
    """``Packages``, ``.gz`` and ``.xz`` from segments, rendering only uncached ones."""
    keys = [segment_key(deb.STANZA_FORMAT, group) for group in groups]
    rendered = pool.cache.reusable_segments(scope, keys, groups)
    # zlib and lzma release the GIL, so missing segments compress on every core.
    missing = {
        key: executor.submit(_render, deb.render_segment(pool.entry(name).stanza for name in group))
        for key, group in zip(keys, groups, strict=True)
        if key not in rendered
    }
    rendered.update({key: future.result() for key, future in missing.items()})
    pool.cache.segments.replace(scope, rendered)
    ordered = [rendered[key] for key in keys]
    return {
        "Packages": b"".join(parts["raw"] for parts in ordered),
        "Packages.gz": b"".join(parts["gz"] for parts in ordered),
        "Packages.xz": xz_stream([_xz(parts) for parts in ordered]),
    }


def write_suite(
    pool: DebPool,
    channel: str,
    filenames: Collection[str],
    options: RepoOptions,
    signer: SigningKey,
    staging: Staging,
    state_dir: Path,
    now: datetime,
) -> SuiteUpdate:
    """Build suite ``channel`` listing pool ``filenames`` beside the live one, signed.

    Only segments that gained or lost packages are rendered and compressed again, and
    indexes whose content is unchanged are hard-linked from the live suite, not rewritten.
    """
    live = pool.deb_dir / suite_dir(channel)
    staged = staging.directory(live)
    arches = deb.architectures_of(map(pool_file_arch, filenames), options.deb_architectures)
    old_release = live / "Release"
    old = deb.release_entries(old_release.read_text("utf-8")) if old_release.is_file() else {}
    index_entries: list[deb.IndexEntry] = []
    changed: list[str] = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as executor:
        for arch in arches:
            directory = binary_dir(arch)
            (staged / directory).mkdir(parents=True)
            groups = deb.packages_segments(filenames, arch)
            indexes = _indexes(pool, f"{channel}/{arch}", groups, executor)
            entries = _index_entries(directory, indexes, executor)
            if _unchanged(live, old, directory, entries):
                index_entries += _link_from_live(live, staged, old, entries)
            else:
                changed.append(directory)
                index_entries += _write_staged(staged, indexes, entries)
    generations = _stage_by_hash(
        live,
        staged,
        index_entries,
        load_generations(state_dir, channel),
        options.by_hash_generations,
    )
    _stage_release(staged, channel, arches, index_entries, options, signer, now)
    return SuiteUpdate(
        channel, sorted(f"deb/{suite_dir(channel)}/{d}" for d in changed), generations
    )


def _index_entries(
    directory: str, indexes: dict[str, bytes], executor: ThreadPoolExecutor
) -> dict[str, deb.IndexEntry]:
    """Each index of ``directory`` (``Packages``, ``.gz``, ``.xz``) as its Release lists it."""
    # hashlib releases the GIL on large inputs: the three indexes hash side by side.
    paths = [f"{directory}/{name}" for name in indexes]
    hashed = executor.map(deb.IndexEntry.of, paths, indexes.values())
    return dict(zip(indexes, hashed, strict=True))


def _unchanged(
    live: Path, old: dict[str, deb.IndexEntry], directory: str, entries: dict[str, deb.IndexEntry]
) -> bool:
    """Whether the live suite lists and holds these indexes already, with the same content."""
    previous = old.get(f"{directory}/Packages")
    return (
        previous is not None
        and previous.sha256 == entries["Packages"].sha256
        and all(entry.path in old and (live / entry.path).is_file() for entry in entries.values())
    )


def _link_from_live(
    live: Path, staged: Path, old: dict[str, deb.IndexEntry], entries: dict[str, deb.IndexEntry]
) -> list[deb.IndexEntry]:
    """Hard-link unchanged indexes from the live suite; their entries as its Release lists them."""
    for entry in entries.values():
        os.link(live / entry.path, staged / entry.path)
    return [old[entry.path] for entry in entries.values()]


def _write_staged(
    staged: Path, indexes: dict[str, bytes], entries: dict[str, deb.IndexEntry]
) -> list[deb.IndexEntry]:
    """Write new indexes into the staged suite; their entries."""
    for name, data in indexes.items():
        (staged / entries[name].path).write_bytes(data)
    return list(entries.values())


def _stage_by_hash(
    live: Path,
    staged: Path,
    index_entries: list[deb.IndexEntry],
    history: list[list[str]],
    keep: int,
) -> list[list[str]]:
    """Link the by-hash copies of the last ``keep`` generations into the staged suite.

    The current generation's copies are the staged indexes; older ones come from the live
    suite while it still has them. Returns the generations to remember.
    """
    # Each by-hash path maps to the staged index it copies.
    current = {
        copy: entry.path
        for entry in index_entries
        for copy in by_hash_paths(entry.path, entry.sha256, entry.sha512)
    }
    generations = deb.next_generations(history, current, keep)
    for relative in sorted({path for generation in generations for path in generation}):
        source = staged / current[relative] if relative in current else live / relative
        if source.is_file():
            (staged / relative).parent.mkdir(parents=True, exist_ok=True)
            os.link(source, staged / relative)
    return generations


def _stage_release(
    staged: Path,
    channel: str,
    arches: list[str],
    index_entries: list[deb.IndexEntry],
    options: RepoOptions,
    signer: SigningKey,
    now: datetime,
) -> None:
    """Write the suite's ``Release`` over ``index_entries``, and sign it (``Release.gpg``, ``InRelease``)."""
    fields = deb.ReleaseFields(
        origin=options.origin,
        label=options.label,
        suite=channel,
        codename=channel,
        date=now,
        valid_until=now + timedelta(days=options.valid_until_days),
        architectures=arches,
        components=[COMPONENT],
    )
    release = deb.render_release(fields, index_entries).encode("utf-8")
    (staged / "Release").write_bytes(release)
    detached, inline = signer.sign_release(release)
    (staged / "Release.gpg").write_bytes(detached)
    (staged / "InRelease").write_bytes(inline)
