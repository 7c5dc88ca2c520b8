"""Snapshots on the repo server: their names, which to keep, which to roll back to; pure.

A snapshot is named ``<UTC stamp>-<version>`` (``20261122T103005Z-1.2.3``), so names sort
by age. Directories whose names start with a dot are snapshots under construction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from orchestrator.errors import UsageError

_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~_-]*")
SNAPSHOT = re.compile(r"[0-9]{8}T[0-9]{6}Z(?:\.[0-9]+)?-[A-Za-z0-9][A-Za-z0-9.+~_-]*")
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


def check_version(version: str) -> str:
    """The version if it can be part of a snapshot name; UsageError otherwise."""
    if not _VERSION.fullmatch(version):
        raise UsageError(
            f"version {version!r} cannot name a snapshot: use letters, digits and . + ~ _ -"
        )
    return version


def snapshot_name(now: datetime, version: str, existing: Sequence[str]) -> str:
    """A new snapshot's name; a ``.N`` after the stamp keeps two in one second apart."""
    stamp = now.astimezone(UTC).strftime(STAMP_FORMAT)
    name = f"{stamp}-{check_version(version)}"
    taken = set(existing)
    counter = 1
    while name in taken:
        name = f"{stamp}.{counter}-{version}"
        counter += 1
    return name


def is_snapshot(name: str) -> bool:
    """Whether a directory name is a finished snapshot."""
    return SNAPSHOT.fullmatch(name) is not None


def _age_key(name: str) -> tuple[str, int]:
    stamp, _, _ = name.partition("-")
    base, _, counter = stamp.partition(".")
    return base, int(counter or 0)


def by_age(names: Sequence[str]) -> list[str]:
    """Finished snapshots, oldest first."""
    return sorted((name for name in names if is_snapshot(name)), key=_age_key)


def to_prune(names: Sequence[str], current: str | None, keep: int) -> list[str]:
    """Snapshots beyond the newest ``keep``; the current one is always kept."""
    ordered = by_age(names)
    kept = set(ordered[-keep:])
    return [name for name in ordered if name not in kept and name != current]


def rollback_target(names: Sequence[str], current: str | None, to: str | None) -> str:
    """The snapshot to switch to: ``to``, else the newest one older than the current one."""
    ordered = by_age(names)
    if to is not None:
        if to not in ordered:
            listed = ", ".join(ordered) or "none"
            raise UsageError(f"no snapshot {to!r} on the server (snapshots: {listed})")
        if to == current:
            raise UsageError(f"{to} is already the current snapshot")
        return to
    if current is None or current not in ordered:
        raise UsageError("the server has no current snapshot to roll back from")
    older = ordered[: ordered.index(current)]
    if not older:
        raise UsageError(f"{current} is the oldest snapshot kept: there is nothing to roll back to")
    return older[-1]
