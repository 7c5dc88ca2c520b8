"""Verifying what a build host sent back: checksums first, then each package's identity.

The host computes sha256 sums next to the files and bundles both into one archive. On
the orchestrator every file must be listed, every listed file must be present, and each
digest must match; a .deb or .rpm must then carry the release version and the target's
architecture. Anything else fails the target with an error naming the file.
"""

from __future__ import annotations

import hashlib
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from orchestrator.commands import CHECKSUMS
from orchestrator.errors import BuildError, RepositoryError
from orchestrator.plan import RPM_ARCH
from orchestrator.repo.packages import read_deb, read_rpm

# Packages without an architecture are fine on any target.
ARCH_INDEPENDENT = {"deb": "all", "rpm": "noarch"}


@dataclass(frozen=True)
class Artifact:
    """A verified file from a build: where it is now, its path on the host, its digest."""

    path: Path
    name: str
    sha256: str
    size: int
    kind: str  # "deb", "rpm" or "extra"


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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


def unpack_bundle(bundle: Path, destination: Path, target: str) -> dict[str, str]:
    """Extract an artifact bundle safely; return the checksums it carries."""
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(bundle, "r:gz") as archive:
            # The "data" filter refuses absolute paths, links out of the tree and devices.
            archive.extractall(destination, filter="data")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise BuildError(
            f"{target}: artifact archive {bundle.name} is unreadable: {error}"
        ) from None
    listing = destination / CHECKSUMS
    if not listing.is_file():
        raise BuildError(f"{target}: artifact archive has no {CHECKSUMS}")
    return parse_checksums(listing.read_text(), target)


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


def upstream_version(deb_version: str) -> str:
    """The upstream part of a Debian version: no epoch, no Debian revision."""
    without_epoch = deb_version.split(":", 1)[1] if ":" in deb_version else deb_version
    return without_epoch.rsplit("-", 1)[0] if "-" in without_epoch else without_epoch


def check_package(path: Path, name: str, *, target: str, arch: str, version: str) -> str:
    """Check a .deb or .rpm's version and architecture against the target; return its kind."""
    try:
        if path.suffix == ".deb":
            deb = read_deb(path).control
            found_version, found_arch, kind = upstream_version(deb.version), deb.arch, "deb"
            expected_arch = arch
        elif path.suffix == ".rpm":
            rpm = read_rpm(path)
            found_version, found_arch, kind = rpm.version, rpm.arch, "rpm"
            expected_arch = RPM_ARCH[arch]
        else:
            return "extra"
    except RepositoryError as error:
        raise BuildError(f"{target}: {name} is not a valid package: {error}") from None
    if found_arch not in (expected_arch, ARCH_INDEPENDENT[kind]):
        raise BuildError(
            f"{target}: {name} is built for architecture {found_arch}, "
            f"but the target is {expected_arch}"
        )
    if found_version != version:
        raise BuildError(
            f"{target}: {name} has version {found_version}, but the release is {version}"
        )
    return kind


def verify_artifacts(
    bundle: Path, destination: Path, *, target: str, arch: str, package_format: str, version: str
) -> list[Artifact]:
    """Unpack ``bundle``, verify checksums, then check every package; return the artifacts."""
    sums = unpack_bundle(bundle, destination, target)
    artifacts = []
    for path, digest in verify_checksums(destination, sums, target):
        name = str(path.relative_to(destination))
        kind = check_package(path, name, target=target, arch=arch, version=version)
        artifacts.append(Artifact(path, name, digest, path.stat().st_size, kind))
    if not any(a.kind == package_format for a in artifacts):
        raise BuildError(f"{target}: the build produced no .{package_format} package")
    return artifacts
