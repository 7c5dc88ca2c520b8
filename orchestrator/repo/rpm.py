"""RPM repository metadata: per-package XML chunks from createrepo_c, and repodata from them.

Each package is read once by createrepo_c into its primary, filelists and other XML chunks,
which are cached. The three documents are written as multi-member gzip files whose members
are segments of packages (see :mod:`orchestrator.repo.compress`), so adding a few packages
to thousands compresses only the segments they land in; ``repomd.xml`` is made with
createrepo_c's own writer.

createrepo_c (libcreaterepo_c and glib) is imported in the functions that use it: a
run that handles only .deb files does not load it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from orchestrator.errors import RepositoryError
from orchestrator.repo.compress import gzip_member
from orchestrator.repo.packages import rpm_header

# Names the chunk format in segment cache keys: change it when the chunks change.
CHUNK_FORMAT = "createrepo_c-chunks-1"
KINDS = ("primary", "filelists", "other")
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
_ROOTS = {
    "primary": (
        "metadata",
        'xmlns="http://linux.duke.edu/metadata/common" '
        'xmlns:rpm="http://linux.duke.edu/metadata/rpm"',
    ),
    "filelists": ("filelists", 'xmlns="http://linux.duke.edu/metadata/filelists"'),
    "other": ("otherdata", 'xmlns="http://linux.duke.edu/metadata/other"'),
}


@dataclass(frozen=True)
class RpmEntry:
    """One package of an RPM repository: its identity and its metadata chunks."""

    href: str
    name: str
    epoch: str
    version: str
    release: str
    arch: str
    identity: str
    primary: str
    filelists: str
    other: str

    @property
    def evr(self) -> str:
        """``epoch:version-release`` for ordering versions."""
        return f"{self.epoch}:{self.version}-{self.release}"

    def data(self) -> dict[str, str]:
        """The entry as cacheable strings."""
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, str]) -> RpmEntry:
        """Rebuild an entry from :meth:`data`."""
        return cls(**data)


def read_entry(path: Path, href: str, identity: str) -> RpmEntry:
    """Read the package at ``path``, to be listed at ``href`` relative to the tree."""
    import createrepo_c as cr  # see the module docstring

    try:
        package = cr.package_from_rpm(str(path), cr.SHA256, href, None, 10)
        primary, filelists, other = cr.xml_dump(package)
    except (OSError, ValueError, TypeError) as exc:
        raise RepositoryError(f"{path} is not a valid .rpm ({exc}): remove or rebuild it") from exc
    return RpmEntry(
        href=href,
        identity=identity,
        primary=primary,
        filelists=filelists,
        other=other,
        **rpm_header(package),
    )


def render_segment(entries: Sequence[RpmEntry]) -> dict[str, bytes]:
    """One segment of each document: its XML (``primary``...) and gzip member (``.gz``)."""
    parts: dict[str, bytes] = {}
    for kind in KINDS:
        raw = "".join(getattr(entry, kind) for entry in entries).encode("utf-8")
        parts[kind] = raw
        parts[f"{kind}.gz"] = gzip_member(raw)
    return parts


def _document(kind: str, count: int) -> tuple[bytes, bytes]:
    element, namespaces = _ROOTS[kind]
    head = f'{_DECLARATION}<{element} {namespaces} packages="{count}">\n'
    return head.encode("utf-8"), f"</{element}>\n".encode()


def write_repodata(
    directory: Path, segments: Sequence[Mapping[str, bytes]], count: int, revision: int
) -> bytes:
    """Write hash-named primary/filelists/other.xml.gz into ``directory``; return repomd.xml.

    The caller writes ``repomd.xml`` (and signs it) last, so nothing names a file that is
    not yet complete.
    """
    import createrepo_c as cr  # see the module docstring

    repomd = cr.Repomd()
    repomd.set_revision(str(revision))
    for kind in KINDS:
        head, tail = _document(kind, count)
        data = b"".join(
            (gzip_member(head), *(s[f"{kind}.gz"] for s in segments), gzip_member(tail))
        )
        opened = hashlib.sha256(head)
        for segment in segments:
            opened.update(segment[kind])
        opened.update(tail)
        checksum = hashlib.sha256(data).hexdigest()
        name = f"{checksum}-{kind}.xml.gz"
        (directory / name).write_bytes(data)
        record = cr.RepomdRecord(kind, None)
        record.location_href = f"repodata/{name}"
        record.checksum, record.checksum_type = checksum, "sha256"
        record.checksum_open, record.checksum_open_type = opened.hexdigest(), "sha256"
        record.size = len(data)
        record.size_open = len(head) + len(tail) + sum(len(s[kind]) for s in segments)
        record.timestamp = revision
        repomd.set_record(record)
    xml: str = repomd.xml_dump()
    return xml.encode("utf-8")
