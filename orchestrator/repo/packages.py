"""Reading the metadata of .deb and .rpm files, and refusing files that are not packages.

createrepo_c (libcreaterepo_c and glib) and python-debian's deb822 and debfile are
imported in the functions that use them: a run that handles only .rpm files does not load
the .deb readers, nor one that handles only .deb files createrepo_c.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import re
import struct
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from debian.debian_support import Version

from orchestrator.errors import RepositoryError

_DEB_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_DEB_ARCH = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_RPM_LEAD_SIZE = 96
_RPM_HEADER_MAGIC = b"\x8e\xad\xe8\x01"
_AR_MAGIC = b"!<arch>\n"
_TAR_DECOMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "control.tar.gz": gzip.decompress,
    "control.tar.xz": lzma.decompress,
    "control.tar": bytes,
}


@dataclass(frozen=True)
class DebControl:
    """The fields of a binary package's ``control`` file that place and name it."""

    fields: dict[str, str]
    name: str
    version: str
    arch: str
    source: str


@dataclass(frozen=True)
class Digests:
    """Size and strong digests of a file."""

    size: int
    sha256: str
    sha512: str


@dataclass(frozen=True)
class DebPackage:
    """A .deb read from disk: its control fields and file digests."""

    path: Path
    control: DebControl
    digests: Digests


class RpmHeader(TypedDict):
    """What an .rpm's header says it is, as :class:`RpmPackage` and the RPM index hold it."""

    name: str
    epoch: str
    version: str
    release: str
    arch: str


def rpm_header(package: Any) -> RpmHeader:
    """The header fields of a package createrepo_c read; epoch ``"0"`` when it names none."""
    return RpmHeader(
        name=package.name,
        epoch=package.epoch or "0",
        version=package.version,
        release=package.release,
        arch=package.arch,
    )


@dataclass(frozen=True)
class RpmPackage:
    """An .rpm read from disk.

    ``identity`` digests everything after the signature header, so the same package signed
    twice (or once and not at all) has one identity.
    """

    path: Path
    name: str
    epoch: str
    version: str
    release: str
    arch: str
    identity: str

    @property
    def evr(self) -> str:
        """``[epoch:]version-release``, as rpm prints it."""
        prefix = f"{self.epoch}:" if self.epoch not in ("", "0") else ""
        return f"{prefix}{self.version}-{self.release}"


def parse_control(text: str, origin: str = "control") -> DebControl:
    """Parse a binary ``control`` paragraph; raise :class:`RepositoryError` if it is unusable."""
    from debian import deb822  # see the module docstring

    fields = dict(deb822.Deb822(text.splitlines()))
    missing = [key for key in ("Package", "Version", "Architecture") if not fields.get(key)]
    if missing:
        raise RepositoryError(
            f"{origin}: control file lacks {', '.join(missing)}: rebuild the package with them"
        )
    name, version, arch = fields["Package"], fields["Version"], fields["Architecture"]
    if not _DEB_NAME.fullmatch(name):
        raise RepositoryError(f"{origin}: invalid package name {name!r}: use [a-z0-9+.-]")
    if not _DEB_ARCH.fullmatch(arch):
        raise RepositoryError(f"{origin}: invalid architecture {arch!r}")
    try:
        Version(version)
    except ValueError as exc:
        raise RepositoryError(f"{origin}: invalid version {version!r}: {exc}") from exc
    # "Source: foo (1.2)" names a source whose version differs from the binary's.
    source = fields.get("Source", "").split(" ", 1)[0] or name
    return DebControl(fields=fields, name=name, version=version, arch=arch, source=source)


def file_digests(path: Path) -> Digests:
    """Size, SHA256 and SHA512 of a file (read twice: the second time from the page cache)."""
    with path.open("rb") as stream:
        sha256 = hashlib.file_digest(stream, "sha256")
        stream.seek(0)
        sha512 = hashlib.file_digest(stream, "sha512")
        size = stream.tell()
    return Digests(size=size, sha256=sha256.hexdigest(), sha512=sha512.hexdigest())


def _control_member(path: Path) -> tuple[str, bytes]:
    """Name and bytes of the ``control.tar*`` member of a .deb (an ar archive)."""
    with path.open("rb") as stream:
        if stream.read(8) != _AR_MAGIC:
            raise ValueError("not an ar archive")
        while header := stream.read(60):
            if len(header) != 60 or header[58:60] != b"`\n":
                raise ValueError("truncated ar member header")
            name = header[:16].decode("ascii").strip().rstrip("/")
            size = int(header[48:58])
            if name.startswith("control.tar"):
                return name, stream.read(size)
            stream.seek(size + size % 2, 1)
    raise ValueError("no control.tar member")


def _control_text(path: Path) -> str:
    """The ``control`` file of a .deb.

    gzip, xz and plain control archives are read directly, which is several times faster
    than python-debian's generic reader; anything else (zstd) goes through python-debian.
    """
    name, member = _control_member(path)
    decompress = _TAR_DECOMPRESSORS.get(name)
    if decompress is None:
        return _generic_control_text(path)
    with tarfile.open(fileobj=io.BytesIO(decompress(member)), mode="r:") as archive:
        for info in archive:
            if info.name in ("./control", "control") and info.isfile():
                extracted = archive.extractfile(info)
                if extracted is not None:
                    return extracted.read().decode("utf-8")
    raise ValueError("control.tar has no control file")


def _generic_control_text(path: Path) -> str:
    """The ``control`` file through python-debian's reader, for any compression it knows."""
    from debian import arfile, debfile  # see the module docstring

    try:
        return str(debfile.DebFile(str(path)).control.get_content("control", encoding="utf-8"))
    except (debfile.DebError, arfile.ArError) as exc:
        raise ValueError(str(exc)) from exc


def read_deb(path: Path) -> DebPackage:
    """Read a .deb's control file and digests; raise :class:`RepositoryError` if invalid."""
    try:
        control_text = _control_text(path)
    except (
        tarfile.TarError,
        OSError,
        ValueError,
        EOFError,
        lzma.LZMAError,
        zlib.error,
    ) as exc:
        raise RepositoryError(f"{path} is not a valid .deb ({exc}): remove or rebuild it") from exc
    return DebPackage(
        path=path, control=parse_control(control_text, str(path)), digests=file_digests(path)
    )


def rpm_identity(path: Path) -> str:
    """SHA256 of an RPM's main header and payload: stable across (re-)signing."""
    with path.open("rb") as stream:
        stream.seek(_RPM_LEAD_SIZE)
        intro = stream.read(16)
        if len(intro) != 16 or intro[:4] != _RPM_HEADER_MAGIC:
            raise RepositoryError(f"{path} is not a valid .rpm (bad signature header): rebuild it")
        entries, data_size = struct.unpack(">II", intro[8:16])
        signature_size = 16 + 16 * entries + data_size
        # The signature header is padded to a multiple of 8 bytes; the main header follows.
        stream.seek(_RPM_LEAD_SIZE + signature_size + (-signature_size % 8))
        return hashlib.file_digest(stream, "sha256").hexdigest()


def read_rpm(path: Path) -> RpmPackage:
    """Read an .rpm's name, version and architecture; raise :class:`RepositoryError` if invalid."""
    import createrepo_c as cr  # see the module docstring

    try:
        package = cr.package_from_rpm(str(path))
    except (OSError, ValueError) as exc:
        raise RepositoryError(f"{path} is not a valid .rpm ({exc}): remove or rebuild it") from exc
    if package.arch == "src":
        raise RepositoryError(f"{path} is a source RPM: publish binary RPMs only")
    return RpmPackage(path=path, identity=rpm_identity(path), **rpm_header(package))
