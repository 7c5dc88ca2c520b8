"""Release tags, package versions and channels.

Only ``vMAJOR.MINOR.PATCH[-PRERELEASE]`` (anchored semver, no leading zeros, no build
metadata) is a release tag. Package versions use ``~`` for anything that must sort *below*
a release, which both dpkg and rpm (>= 4.10) understand: ``1.3.0~rc.1 < 1.3.0`` and
``1.3.0~nightly.20261122.103005 < 1.3.0``. Python distributions take the PEP 440 form
of the same version (:func:`python_version`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from packaging.version import InvalidVersion, Version

from orchestrator.errors import TagError, UsageError

# Nine digits are plenty for a version and keep int() and the package tools out of trouble.
_NUMBER = r"(?:0|[1-9][0-9]{0,8})"
MAX_TAG_LENGTH = 128
_PRERELEASE_PART = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
TAG_PATTERN = re.compile(
    rf"v(?P<major>{_NUMBER})\.(?P<minor>{_NUMBER})\.(?P<patch>{_NUMBER})"
    rf"(?:-(?P<prerelease>{_PRERELEASE_PART}(?:\.{_PRERELEASE_PART})*))?",
    re.ASCII,
)


_PACKAGE_VERSION = re.compile(
    r"(?:[0-9]{1,9}:)?[0-9][A-Za-z0-9.+~]*(?:-[A-Za-z0-9.+~]+)?", re.ASCII
)


def check_package_version(version: str, flag: str) -> str:
    """``version`` if it is a package version such as ``1.2.3`` or ``1.3.0~rc.1-1``."""
    if len(version) > 128 or not _PACKAGE_VERSION.fullmatch(version):
        shown = version[:40]
        raise UsageError(f"{flag} {shown!r} is not a package version such as 1.2.3 or 1.3.0~rc.1")
    return version


class Channel(StrEnum):
    """The repository suite a version is published to."""

    STABLE = "stable"
    TESTING = "testing"
    NIGHTLY = "nightly"


@dataclass(frozen=True)
class Release:
    """A parsed release tag and the package version and channel it maps to."""

    tag: str
    major: int
    minor: int
    patch: int
    prerelease: str | None
    package_version: str
    channel: Channel

    @property
    def core(self) -> str:
        """The ``MAJOR.MINOR.PATCH`` part of the version."""
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def semver(self) -> str:
        """The version in semver form (``1.3.0-rc.1``): an image's tag and version label."""
        return self.core + (f"-{self.prerelease}" if self.prerelease else "")


def parse_tag(tag: str) -> Release:
    """Parse a release tag; raise :class:`TagError` for anything else.

    ``re.fullmatch`` anchors both ends, so a trailing newline, space or shell
    metacharacter never sneaks through as it would with ``$``.
    """
    if not tag:
        raise TagError(
            "tag '' is not a release tag: pass --tag vMAJOR.MINOR.PATCH[-PRERELEASE], "
            "e.g. --tag v1.2.3"
        )
    match = TAG_PATTERN.fullmatch(tag) if len(tag) <= MAX_TAG_LENGTH else None
    if match is None:
        shown = repr(tag if len(tag) <= 60 else tag[:57] + "...")
        raise TagError(
            f"tag {shown} is not a release tag: use vMAJOR.MINOR.PATCH or "
            "vMAJOR.MINOR.PATCH-PRERELEASE without leading zeros (numbers of at most 9 "
            "digits), e.g. v1.2.3 or v1.3.0-rc.1"
        )
    major, minor, patch = (int(match[name]) for name in ("major", "minor", "patch"))
    prerelease = match["prerelease"]
    if prerelease is not None and "-" in prerelease:
        raise TagError(
            f"tag {tag!r}: a '-' inside the pre-release cannot become a package version "
            f"(RPM forbids '-' in Version): use dots, e.g. v{major}.{minor}.{patch}-"
            f"{prerelease.replace('-', '.')}"
        )
    core = f"{major}.{minor}.{patch}"
    if prerelease is None:
        return Release(tag, major, minor, patch, None, core, Channel.STABLE)
    return Release(tag, major, minor, patch, prerelease, f"{core}~{prerelease}", Channel.TESTING)


def nightly_release(base: Release, now: datetime) -> Release:
    """The nightly build on top of release ``base``: the next minor version, sorting below it.

    ``v1.2.3`` built on 2026-11-22 at 10:30:05 UTC becomes ``1.3.0~nightly.20261122.103005``,
    which is above 1.2.3 and any 1.2.x patch release and below 1.3.0 and its pre-releases
    in both dpkg and rpm ordering. The time of day keeps two nightlies of one day apart; it
    has no leading zeros (05:45:00 is ``54500``), which semver forbids in a number and which
    dpkg, rpm and semver all compare as numbers anyway.
    """
    if base.prerelease is not None:
        raise TagError(
            f"--nightly builds on a release tag, not on the pre-release {base.tag!r}: "
            "pass the latest vMAJOR.MINOR.PATCH tag"
        )
    moment = now.astimezone(UTC)
    stamp = f"{moment:%Y%m%d}.{int(moment.strftime('%H%M%S'))}"
    minor = base.minor + 1
    version = f"{base.major}.{minor}.0~nightly.{stamp}"
    return Release(base.tag, base.major, minor, 0, f"nightly.{stamp}", version, Channel.NIGHTLY)


# Semver pre-release labels PEP 440 has a word for; anything else has no PEP 440 form.
_PEP440_LABELS = {
    "alpha": "a", "a": "a", "beta": "b", "b": "b",
    "rc": "rc", "c": "rc", "pre": "rc", "preview": "rc", "dev": ".dev",
}  # fmt: skip
_LABEL_NUMBER = re.compile(r"([a-z]+)\.?([0-9]{0,9})", re.ASCII)


def python_version(release: Release) -> str | None:
    """The PEP 440 form of ``release``'s version, for Python distributions; None if it has none.

    ``v1.2.3`` is ``1.2.3``, ``v1.3.0-rc.1`` is ``1.3.0rc1`` (alpha, beta, rc and dev
    labels, one number at most); a nightly ``1.3.0~nightly.20261122.103005`` is the dev
    release ``1.3.0.dev20261122103005``, which sorts as its deb does: above 1.2.3, below
    1.3.0 and its pre-releases. Any other pre-release (``-foo.1``) has no PEP 440 form.
    """
    if release.prerelease is None:
        return release.core
    if release.channel is Channel.NIGHTLY:
        stamp = release.prerelease.removeprefix("nightly.").replace(".", "")
        return f"{release.core}.dev{stamp}"
    match = _LABEL_NUMBER.fullmatch(release.prerelease.lower())
    if match is None or match[1] not in _PEP440_LABELS:
        return None
    try:
        return str(Version(f"{release.core}{_PEP440_LABELS[match[1]]}{match[2] or 0}"))
    except InvalidVersion:
        return None


def latest_release(tags: Iterable[str]) -> Release | None:
    """The highest plain release (no pre-release) among ``tags``; others are ignored."""
    releases = []
    for tag in tags:
        try:
            release = parse_tag(tag)
        except TagError:
            continue
        if release.prerelease is None:
            releases.append(release)
    return max(releases, key=lambda r: (r.major, r.minor, r.patch), default=None)


@dataclass(frozen=True)
class Revision:
    """The commit a release builds, and the name it was asked for by (a tag, a branch, HEAD)."""

    ref: str
    commit: str
