"""What a Python distribution says it is: its name and version, from its own metadata.

A wheel (``.whl``, a zip) carries ``NAME-VERSION.dist-info/METADATA``; an sdist
(``.tar.gz``) carries ``NAME-VERSION/PKG-INFO``. Both came from a build host, which the
tool does not trust: nothing is extracted, only the one metadata file is read, within a
size limit, and an archive with a link, a device, an absolute name or a ``..`` is
refused, as are more members than a distribution has any business holding. The file's
name must agree with its metadata, so an index and pip see one identity.

What is checked is what twine uploads: twine reads the shortest wheel member whose path
contains ``METADATA``, and an sdist's ``{common path of all members}/PKG-INFO``, so a
distribution where twine could read another file than the one checked here is refused.
Limits apply before the standard library allocates: a zip's central directory is sized
from its end record before :class:`zipfile.ZipFile` reads it, and an sdist is read as a
counted stream that refuses the one huge read a forged tar header asks for.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path, PurePosixPath
from typing import IO, cast

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from orchestrator.errors import ArchiveError
from orchestrator.remote.archive import ArchiveLimits, CountedReader

# A METADATA of a megabyte is already absurd; anything bigger is refused unread.
MAX_METADATA_BYTES = 1 << 20
MAX_MEMBERS = 100_000
# What an sdist's members may add up to, as its headers declare them.
MAX_SDIST_BYTES = 4 << 30
# A distribution file as it lies on disk (PyPI's own default limit is 100 MB).
MAX_FILE_BYTES = 1 << 30
# zipfile makes an entry of every 46 bytes of central directory, whatever the end record's
# count says: this bounds how many it can make. A wheel of 100,000 files needs ~15 MB.
MAX_CENTRAL_DIRECTORY_BYTES = 32 << 20
# The largest single read tarfile needs of an sdist: a metadata file, or a pax or GNU
# long-name header, which tarfile reads whole, sized by the header, before any check.
_MAX_TAR_READ = MAX_METADATA_BYTES
SUFFIXES = (".whl", ".tar.gz")

_END = struct.Struct("<4s4H2LH")
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")
# Where zipfile looks for the end record: the last 22 bytes plus a comment of up to 64 KiB.
_END_WINDOW = _END.size + (1 << 16)
# Errors the standard library raises on hostile archives, turned into a one-line refusal.
_UNREADABLE = (
    OSError, EOFError, zlib.error, zipfile.BadZipFile, tarfile.TarError, RuntimeError,
    NotImplementedError, UnicodeDecodeError, struct.error, ArchiveError,
)  # fmt: skip


class DistributionError(ValueError):
    """A file that is not a distribution the tool accepts; the message says why."""


@dataclass(frozen=True)
class Distribution:
    """A distribution's identity: wheel or sdist, its name and version as its metadata says."""

    kind: str
    name: str
    version: str


def is_distribution(name: str) -> bool:
    """Whether a file of this name would be a Python distribution (wheel or sdist)."""
    return name.endswith(SUFFIXES)


def project_name(file_name: str) -> str:
    """The project a wheel or sdist of this file name belongs to, as its file name says."""
    try:
        if file_name.endswith(".whl"):
            return parse_wheel_filename(file_name)[0]
        return parse_sdist_filename(file_name)[0]
    except (InvalidWheelFilename, InvalidSdistFilename) as error:
        raise DistributionError(str(error)) from None


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name


def _identity(metadata: bytes, kind: str, file_name: str, version: Version) -> Distribution:
    """The name and version ``metadata`` declares, which must be the file name's."""
    headers = BytesHeaderParser().parsebytes(metadata)
    # twine uploads only metadata with a Metadata-Version; it reads none without one.
    if not headers.get("Metadata-Version"):
        raise DistributionError("its metadata has no Metadata-Version")
    name, declared = headers.get("Name"), headers.get("Version")
    if not name or not declared:
        raise DistributionError("its metadata has no Name or no Version")
    try:
        parsed = Version(declared)
    except InvalidVersion:
        raise DistributionError(
            f"its metadata's version {declared[:40]!r} is not PEP 440"
        ) from None
    if canonicalize_name(name) != canonicalize_name(file_name) or parsed != version:
        raise DistributionError(
            f"its metadata says {name[:60]} {declared[:40]}, its file name {file_name} {version}"
        )
    return Distribution(kind, name, str(parsed))


def _end_record(tail: bytes) -> int:
    """Where in ``tail`` (the file's end) zipfile finds the end record: found as it does."""
    last = len(tail) - _END.size
    if last >= 0 and tail[last : last + 4] == _END_SIGNATURE and tail[-2:] == b"\0\0":
        return last
    found = tail.rfind(_END_SIGNATURE, max(0, len(tail) - _END_WINDOW))
    if found < 0 or found > last:
        raise DistributionError("it is not a readable archive: it has no zip end record")
    return found


def _directory_size(tail: bytes) -> tuple[int, int]:
    """The entry count and byte size of a zip's central directory, from its end records.

    zipfile takes them from the ZIP64 end record when a ZIP64 locator precedes the
    classic one (counts over 65,535 or sizes over 4 GiB), so this does the same.
    """
    end = _end_record(tail)
    _, _, _, _, entries, size, _, _ = _END.unpack_from(tail, end)
    locator, record = end - _ZIP64_LOCATOR.size, end - _ZIP64_LOCATOR.size - _ZIP64_END.size
    if record >= 0 and _ZIP64_LOCATOR.unpack_from(tail, locator)[0] == b"PK\x06\x07":
        fields = _ZIP64_END.unpack_from(tail, record)
        if fields[0] == b"PK\x06\x06":
            entries, size = fields[7], fields[8]
    return entries, size


def _check_zip_directory(path: Path) -> None:
    """Refuse a zip whose directory is too big, before zipfile builds an entry of any of it."""
    with path.open("rb") as file:
        length = file.seek(0, os.SEEK_END)
        file.seek(max(0, length - _END_WINDOW - _ZIP64_LOCATOR.size - _ZIP64_END.size))
        tail = file.read()
    entries, size = _directory_size(tail)
    if entries > MAX_MEMBERS:
        raise DistributionError(f"it has more than {MAX_MEMBERS} members ({entries})")
    if size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise DistributionError(
            f"its central directory is {size} bytes, over {MAX_CENTRAL_DIRECTORY_BYTES}"
        )


def _check_zip_member(member: zipfile.ZipInfo) -> None:
    if not _safe_member(member.filename):
        raise DistributionError(f"member {member.filename[:80]!r} leaves the archive")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise DistributionError(f"member {member.filename[:80]!r} is a link")


def _same_release(directory: str, name: NormalizedName, version: Version) -> bool:
    """Whether a ``.dist-info`` directory's stem names ``name`` at ``version`` (as wheels do)."""
    found_name, _, found_version = directory.rpartition("-")
    try:
        return canonicalize_name(found_name) == name and Version(found_version) == version
    except InvalidVersion:
        return False


def _wheel_metadata(
    members: list[zipfile.ZipInfo], name: NormalizedName, version: Version
) -> zipfile.ZipInfo:
    """The one member twine would read as the wheel's metadata, which must be ours.

    twine reads the shortest path containing "METADATA" that has a Metadata-Version:
    another such member could make it upload another identity than the one checked.
    """
    named = [member for member in members if "METADATA" in member.filename]
    if len(named) != 1:
        shown = ", ".join(repr(member.filename[:80]) for member in named[:3])
        raise DistributionError(
            f"it has {len(named)} members named like METADATA ({shown}), not one "
            "NAME-VERSION.dist-info/METADATA"
        )
    directory, _, file = named[0].filename.partition("/")
    stem = directory.removesuffix(".dist-info")
    if file != "METADATA" or stem == directory or not _same_release(stem, name, version):
        raise DistributionError(
            f"its metadata is {named[0].filename[:80]!r}, not {name}-{version}.dist-info/METADATA"
        )
    return named[0]


def _read_wheel(path: Path) -> Distribution:
    try:
        name, version, _build, _tags = parse_wheel_filename(path.name)
    except InvalidWheelFilename as error:
        raise DistributionError(str(error)) from None
    _check_zip_directory(path)
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        # The end record's count may lie; the directory's size bounded what this built.
        if len(members) > MAX_MEMBERS:
            raise DistributionError(f"it has more than {MAX_MEMBERS} members")
        for member in members:
            _check_zip_member(member)
        info = _wheel_metadata(members, name, version)
        with archive.open(info) as stream:
            metadata = _bounded(stream.read, info.file_size)
    return _identity(metadata, "wheel", name, version)


def _bounded(read: Callable[[int], bytes], declared: int) -> bytes:
    """Up to MAX_METADATA_BYTES of a member whose header says ``declared`` bytes."""
    if declared > MAX_METADATA_BYTES:
        raise DistributionError(f"its metadata is {declared} bytes, over {MAX_METADATA_BYTES}")
    data = read(MAX_METADATA_BYTES + 1)
    if len(data) > MAX_METADATA_BYTES:
        raise DistributionError(f"its metadata is over {MAX_METADATA_BYTES} bytes")
    return data


class _TarStream(CountedReader):
    """An sdist's gunzipped tar as tarfile reads it: counted, forward only, no huge read.

    tarfile reads a pax or GNU long-name header in one ``read(size)`` sized by the header
    (a 10 MB sdist can claim 10 GB of zeros): that read is refused before anything is
    allocated. Random-access mode, whose reads this sees, needs ``seek`` only forward,
    which reads through and so counts what is skipped.
    """

    def read(self, size: int | None = -1, /) -> bytes | None:
        """At most ``_MAX_TAR_READ`` bytes; DistributionError for a bigger (or unsized) read."""
        if size is None or size < 0 or size > _MAX_TAR_READ:
            raise DistributionError(
                f"it has tar read {size} bytes at once, over {_MAX_TAR_READ}: a forged header"
            )
        return super().read(size)

    def seekable(self) -> bool:
        """Yes, forward: what tarfile needs to skip a member's data."""
        return True

    def tell(self) -> int:
        """How many bytes of the tar were read."""
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        """Read forward to ``offset``; DistributionError for a seek back or from the end."""
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self.position + offset}.get(whence, -1)
        if target < self.position:
            raise DistributionError("it has tar seek backwards in it")
        while self.position < target and self.read(min(target - self.position, _MAX_TAR_READ)):
            pass
        return self.position


def _check_tar_member(member: tarfile.TarInfo) -> None:
    if not _safe_member(member.name):
        raise DistributionError(f"member {member.name[:80]!r} leaves the archive")
    if not (member.isfile() or member.isdir()):
        raise DistributionError(f"member {member.name[:80]!r} is not a file or directory")


def _pkg_info(archive: tarfile.TarFile, top: str) -> bytes:
    """``top/PKG-INFO``, which must be what twine reads: ``{common path}/PKG-INFO``."""
    metadata: bytes | None = None
    common: str | None = None
    total = 0
    for count, member in enumerate(archive, start=1):
        if count > MAX_MEMBERS:
            raise DistributionError(f"it has more than {MAX_MEMBERS} members")
        _check_tar_member(member)
        total += member.size
        if total > MAX_SDIST_BYTES:
            raise DistributionError(f"its members add up to over {MAX_SDIST_BYTES} bytes")
        common = os.path.commonpath([common or member.name, member.name])
        if member.name == f"{top}/PKG-INFO":
            # tarfile (and so twine) takes the last of two members of one name.
            if metadata is not None:
                raise DistributionError(f"it has {top}/PKG-INFO twice")
            stream = archive.extractfile(member) if member.isfile() else None
            if stream is None:
                raise DistributionError(f"its {top}/PKG-INFO is not a regular file")
            metadata = _bounded(stream.read, member.size)
    if metadata is None:
        raise DistributionError(f"it has no {top}/PKG-INFO")
    # twine reads {common path of all members}/PKG-INFO: one deeper (a file under
    # top/PKG-INFO/) or higher (a member beside top) would be another file, or none.
    if common != top:
        raise DistributionError(
            f"its members are not all in one top-level directory {top}: twine would read "
            f"{(common or '.')[:80]}/PKG-INFO"
        )
    return metadata


def _read_sdist(path: Path) -> Distribution:
    try:
        name, version = parse_sdist_filename(path.name)
    except InvalidSdistFilename as error:
        raise DistributionError(str(error)) from None
    stream_bytes = ArchiveLimits(
        packed_bytes=MAX_FILE_BYTES, unpacked_bytes=MAX_SDIST_BYTES, files=MAX_MEMBERS
    ).stream_bytes
    with path.open("rb") as file, gzip.GzipFile(fileobj=file, mode="rb") as gunzipped:
        tar = _TarStream(
            cast(IO[bytes], gunzipped), stream_bytes, f"it expands past {stream_bytes} bytes"
        )
        with tarfile.open(fileobj=cast(IO[bytes], tar), mode="r:") as archive:
            metadata = _pkg_info(archive, path.name.removesuffix(".tar.gz"))
    return _identity(metadata, "sdist", name, version)


def _read(path: Path) -> Distribution:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise DistributionError(f"it is {size} bytes, over {MAX_FILE_BYTES} bytes")
    if path.name.endswith(".whl"):
        return _read_wheel(path)
    if path.name.endswith(".tar.gz"):
        return _read_sdist(path)
    raise DistributionError("it is neither a wheel (.whl) nor an sdist (.tar.gz)")


def read_distribution(path: Path) -> Distribution:
    """The identity ``path`` (a wheel or an sdist) declares; DistributionError otherwise."""
    try:
        return _read(path)
    except _UNREADABLE as error:
        # An exception's text may span lines (zipfile's quote a member): one line here.
        said = " ".join(str(error).split())[:200]
        raise DistributionError(f"it is not a readable archive: {said}") from None


def check_distribution(found: Distribution, *, name: str, version: str) -> None:
    """DistributionError unless ``found`` is ``name`` (PEP 503 normalised) at exactly ``version``."""
    if canonicalize_name(found.name) != canonicalize_name(name):
        raise DistributionError(
            f"it is the distribution {found.name[:60]}, not the project's {name}"
        )
    if found.version != version:
        raise DistributionError(
            f"it has version {found.version}, but the release is {version} (PEP 440)"
        )
