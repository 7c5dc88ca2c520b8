"""What a Python distribution says it is: its name and version, from its own metadata.

A wheel (``.whl``, a zip) carries ``NAME-VERSION.dist-info/METADATA``; an sdist
(``.tar.gz``) carries ``NAME-VERSION/PKG-INFO``. Both came from a build host, which the
tool does not trust: nothing is extracted, only the one metadata file is read, within a
size limit, and an archive with a link, a device, an absolute name or a ``..`` is
refused, as are more members than a distribution has any business holding. The file's
name must agree with its metadata, so an index and pip see one identity.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path, PurePosixPath

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

# A METADATA of a megabyte is already absurd; anything bigger is refused unread.
MAX_METADATA_BYTES = 1 << 20
MAX_MEMBERS = 100_000
# What an sdist's members may add up to, as its headers declare them.
MAX_SDIST_BYTES = 4 << 30
SUFFIXES = (".whl", ".tar.gz")


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


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name


def _identity(metadata: bytes, kind: str, file_name: str, version: Version) -> Distribution:
    """The name and version ``metadata`` declares, which must be the file name's."""
    headers = BytesHeaderParser().parsebytes(metadata)
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


def _read_wheel(path: Path) -> Distribution:
    try:
        name, version, _build, _tags = parse_wheel_filename(path.name)
    except InvalidWheelFilename as error:
        raise DistributionError(str(error)) from None
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise DistributionError(f"it has more than {MAX_MEMBERS} members")
        metadata = [
            m
            for m in members
            if m.filename.count("/") == 1 and m.filename.endswith(".dist-info/METADATA")
        ]
        for member in members:
            if not _safe_member(member.filename):
                raise DistributionError(f"member {member.filename[:80]!r} leaves the archive")
            if stat.S_ISLNK(member.external_attr >> 16):
                raise DistributionError(f"member {member.filename[:80]!r} is a link")
        if len(metadata) != 1:
            raise DistributionError("it has no single NAME-VERSION.dist-info/METADATA")
        return _identity(
            _bounded(archive.open(metadata[0]).read, metadata[0].file_size), "wheel", name, version
        )


def _bounded(read: Callable[[int], bytes], declared: int) -> bytes:
    """Up to MAX_METADATA_BYTES of a member whose header says ``declared`` bytes."""
    if declared > MAX_METADATA_BYTES:
        raise DistributionError(f"its metadata is {declared} bytes, over {MAX_METADATA_BYTES}")
    data = read(MAX_METADATA_BYTES + 1)
    if len(data) > MAX_METADATA_BYTES:
        raise DistributionError(f"its metadata is over {MAX_METADATA_BYTES} bytes")
    return data


def _read_sdist(path: Path) -> Distribution:
    try:
        name, version = parse_sdist_filename(path.name)
    except InvalidSdistFilename as error:
        raise DistributionError(str(error)) from None
    top = path.name.removesuffix(".tar.gz")
    metadata: bytes | None = None
    total = 0
    with tarfile.open(path, "r:gz") as archive:
        for count, member in enumerate(archive, start=1):
            if count > MAX_MEMBERS:
                raise DistributionError(f"it has more than {MAX_MEMBERS} members")
            if not _safe_member(member.name):
                raise DistributionError(f"member {member.name[:80]!r} leaves the archive")
            if not (member.isfile() or member.isdir()):
                raise DistributionError(f"member {member.name[:80]!r} is not a file or directory")
            total += member.size
            if total > MAX_SDIST_BYTES:
                raise DistributionError(f"its members add up to over {MAX_SDIST_BYTES} bytes")
            if member.name == f"{top}/PKG-INFO":
                stream = archive.extractfile(member)
                assert stream is not None  # a regular file
                metadata = _bounded(stream.read, member.size)
    if metadata is None:
        raise DistributionError(f"it has no {top}/PKG-INFO")
    return _identity(metadata, "sdist", name, version)


def read_distribution(path: Path) -> Distribution:
    """The identity ``path`` (a wheel or an sdist) declares; DistributionError otherwise."""
    try:
        if path.name.endswith(".whl"):
            return _read_wheel(path)
        if path.name.endswith(".tar.gz"):
            return _read_sdist(path)
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as error:
        raise DistributionError(f"it is not a readable archive: {error}") from None
    raise DistributionError("it is neither a wheel (.whl) nor an sdist (.tar.gz)")


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
