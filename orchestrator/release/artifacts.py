"""Verifying what a build host sent back: a safe unpack, checksums, then each package's identity.

The host computes sha256 sums next to the files and bundles both into one tar.gz, which
the orchestrator reads as it streams with the strict reader of :mod:`orchestrator.remote.archive`
(only files and directories, only inside, within the target's limits). Then every file
must be listed, every listed file present, each digest must match, and each .deb or .rpm
must be one the inventory declares: its name among the target's packages, no epoch but the
project's, exactly the release's version, the target's architecture (or ``all``/``noarch``
where declared); each file a ``python_artifacts`` glob matches must be a wheel or sdist
whose own metadata names the project at the release's PEP 440 version. Anything else fails the target with an error naming the file and the
field, and removes what was unpacked.
"""

from __future__ import annotations

import fnmatch
import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from debian.debian_support import Version

from orchestrator.commands.build import CHECKSUMS, IMAGE_ARCHIVE
from orchestrator.errors import ArchiveError, BuildError, RepositoryError
from orchestrator.images.saved import check_identity as check_image
from orchestrator.images.saved import read_saved_image
from orchestrator.pyindex.dists import DistributionError, check_distribution, read_distribution
from orchestrator.release.plan import RPM_ARCH, Accepted, Limits
from orchestrator.remote.archive import ArchiveLimits, extract
from orchestrator.repo.packages import read_deb, read_rpm

# Architectures of packages that run anywhere, by package format.
ARCH_INDEPENDENT = {"deb": "all", "rpm": "noarch"}


@dataclass(frozen=True)
class Artifact:
    """A verified file from a build: where it is now, its path on the host, its digest."""

    path: Path
    name: str
    sha256: str
    size: int
    kind: str  # "deb", "rpm", "image", "python" or "extra"


@dataclass(frozen=True)
class Identity:
    """What a package says it is: name, epoch (None if it has none), upstream version, arch."""

    kind: str
    name: str
    epoch: int | None
    version: str
    arch: str


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def parse_checksums(text: str, target: str) -> dict[str, str]:
    """Parse ``sha256sum`` output into {relative path: digest}."""
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        digest, separator, name = line.partition("  ")
        if not separator or len(digest) != 64 or not _safe_relative(name):
            raise BuildError(f"{target}: {CHECKSUMS} line {number} is malformed: {line[:80]!r}")
        sums[name] = digest.lower()
    return sums


def _safe_relative(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts


def unpack_bundle(
    stream: IO[bytes], destination: Path, target: str, limits: Limits
) -> dict[str, str]:
    """Unpack an artifact bundle (read as it streams) into the new ``destination``.

    Returns the checksums it carries. BuildError names what made it unacceptable; nothing
    of it is then left on disk.
    """
    archive_limits = ArchiveLimits(
        packed_bytes=limits.bundle_bytes, unpacked_bytes=limits.unpacked_bytes, files=limits.files
    )
    try:
        extract(stream, destination, archive_limits, compressed=True)
    except ArchiveError as error:
        raise BuildError(f"{target}: artifact bundle refused: {error}") from None
    listing = destination / CHECKSUMS
    if not listing.is_file():
        raise BuildError(f"{target}: artifact bundle has no {CHECKSUMS}")
    return parse_checksums(listing.read_text(errors="replace"), target)


def verify_checksums(root: Path, sums: dict[str, str], target: str) -> list[tuple[Path, str]]:
    """Check every listed file against its digest and refuse unlisted files."""
    present = {
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != CHECKSUMS
    }
    unlisted = sorted(present - set(sums))
    if unlisted:
        raise BuildError(f"{target}: {unlisted[0]} arrived but is not in {CHECKSUMS}")
    verified = []
    for name, expected in sorted(sums.items()):
        path = root / name
        if not path.is_file():
            raise BuildError(f"{target}: {name} is listed in {CHECKSUMS} but missing")
        actual = sha256_of(path)
        if actual != expected:
            raise BuildError(
                f"{target}: checksum mismatch for {name}: the host computed {expected[:16]}..., "
                f"the orchestrator received {actual[:16]}...; the transfer or the host is corrupt"
            )
        verified.append((path, actual))
    return verified


def read_identity(path: Path, name: str, target: str) -> Identity | None:
    """The identity a .deb or .rpm declares; None for any other file."""
    try:
        if path.suffix == ".deb":
            control = read_deb(path).control
            version = Version(control.version)
            epoch = int(version.epoch) if version.epoch is not None else None
            return Identity("deb", control.name, epoch, str(version.upstream_version), control.arch)
        if path.suffix == ".rpm":
            rpm = read_rpm(path)
            # rpm has no "no epoch": an unset one reads as 0, as createrepo_c gives it.
            epoch = int(rpm.epoch) if rpm.epoch not in ("", "0") else None
            return Identity("rpm", rpm.name, epoch, rpm.version, rpm.arch)
    except (RepositoryError, ValueError) as error:
        raise BuildError(f"{target}: {name} is not a valid package: {error}") from None
    return None


def check_identity(
    identity: Identity, name: str, *, target: str, arch: str, accepted: Accepted
) -> None:
    """BuildError naming ``name`` and the field unless the package is one the plan accepts."""
    if identity.name not in accepted.names:
        raise BuildError(
            f"{target}: {name} has package name {identity.name}, which this target does not "
            f"build (it builds {', '.join(accepted.names)}); list it in the target's packages "
            "if it belongs to the project"
        )
    # Epoch 0 is no epoch, in dpkg and rpm alike.
    if (identity.epoch or None) != (accepted.epoch or None):
        declared = str(accepted.epoch) if accepted.epoch else "none"
        raise BuildError(
            f"{target}: {name} has epoch {identity.epoch}, but the project's epoch is "
            f"{declared}; an epoch outranks every later version: set project.epoch if the "
            "project really uses one"
        )
    if identity.version != accepted.version:
        raise BuildError(
            f"{target}: {name} has version {identity.version}, but the release is "
            f"{accepted.version}"
        )
    expected = arch if identity.kind == "deb" else RPM_ARCH[arch]
    allowed = {expected}
    if identity.name in accepted.arch_independent:
        allowed.add(ARCH_INDEPENDENT[identity.kind])
    if identity.arch not in allowed:
        raise BuildError(
            f"{target}: {name} is built for architecture {identity.arch}, "
            f"but the target is {expected}"
            + (
                f" (list {identity.name} in the target's arch_independent if it is "
                f"{ARCH_INDEPENDENT[identity.kind]})"
                if identity.arch == ARCH_INDEPENDENT[identity.kind]
                else ""
            )
        )


def check_python(path: Path, name: str, target: str, accepted: Accepted) -> None:
    """BuildError naming ``name`` unless it is the project's distribution at the release."""
    try:
        found = read_distribution(path)
        check_distribution(found, name=accepted.python_name, version=accepted.python_version)
    except DistributionError as error:
        raise BuildError(
            f"{target}: {name} is not a Python distribution of the release: {error}"
        ) from None


def _kind(
    path: Path, name: str, *, target: str, arch: str, accepted: Accepted, python: Sequence[str]
) -> str:
    """The kind of a verified file: a package or Python distribution (each checked), or extra."""
    if any(fnmatch.fnmatchcase(name, glob) for glob in python):
        check_python(path, name, target, accepted)
        return "python"
    identity = read_identity(path, name, target)
    if identity is None:
        return "extra"
    check_identity(identity, name, target=target, arch=arch, accepted=accepted)
    return identity.kind


def verify_artifacts(
    stream: IO[bytes],
    destination: Path,
    *,
    target: str,
    arch: str,
    package_format: str,
    accepted: Accepted,
    limits: Limits,
    python_globs: Sequence[str] = (),
) -> list[Artifact]:
    """Unpack the bundle read from ``stream``, verify checksums and every package.

    Returns the artifacts; on any failure ``destination`` is removed and BuildError raised.
    """
    try:
        sums = unpack_bundle(stream, destination, target, limits)
        artifacts = []
        for path, digest in verify_checksums(destination, sums, target):
            name = str(path.relative_to(destination))
            kind = _kind(
                path, name, target=target, arch=arch, accepted=accepted, python=python_globs
            )
            if package_format == "image" and name == IMAGE_ARCHIVE:
                image = read_saved_image(path, target, max_bytes=limits.unpacked_bytes)
                check_image(image, version=accepted.image_version, arch=arch, where=target)
                kind = "image"
            artifacts.append(Artifact(path, name, digest, path.stat().st_size, kind))
        if not any(a.kind == package_format for a in artifacts):
            made = "image" if package_format == "image" else f".{package_format} package"
            raise BuildError(f"{target}: the build produced no {made}")
        if python_globs and not any(a.kind == "python" for a in artifacts):
            raise BuildError(f"{target}: the build produced no Python distribution")
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise
    return artifacts
