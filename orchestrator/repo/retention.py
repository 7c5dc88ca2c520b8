"""Which package versions a ``keep_last`` retention policy removes; pure, no I/O."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cmp_to_key

from debian.debian_support import version_compare

_RPM_SEGMENT = re.compile(r"(\d+)|([a-zA-Z]+)|(~)|(\^)")


@dataclass(frozen=True)
class Versioned:
    """A package file in a channel: what retention sorts and selects."""

    channel: str
    name: str
    arch: str
    version: str
    path: str


def _rpm_segments(version: str) -> list[str]:
    return [match.group(0) for match in _RPM_SEGMENT.finditer(version)]


def rpmvercmp(left: str, right: str) -> int:
    """Compare two rpm version (or release) strings as rpm does: -1, 0 or 1.

    Digits compare numerically and beat letters; ``~`` sorts before anything, even the end
    of the string; ``^`` sorts after the end but before any other segment.
    """
    if left == right:
        return 0
    a, b = _rpm_segments(left), _rpm_segments(right)
    for x, y in zip(a, b, strict=False):
        if x == y:
            continue
        # Facing anything else, "~" and "^" both sort lower ("~" is checked first, as rpm does).
        for marker in ("~", "^"):
            if marker in (x, y):
                return -1 if x == marker else 1
        if x.isdigit() != y.isdigit():
            return 1 if x.isdigit() else -1
        if x.isdigit():
            diff = int(x) - int(y)
            if diff:
                return 1 if diff > 0 else -1
        elif x != y:
            return 1 if x > y else -1
    if len(a) == len(b):
        return 0
    longer, sign = (a, 1) if len(a) > len(b) else (b, -1)
    extra = longer[min(len(a), len(b))]
    if extra == "~":
        return -sign
    return sign


def rpm_evr_compare(left: str, right: str) -> int:
    """Compare ``epoch:version-release`` strings (epoch and release optional)."""

    def split(evr: str) -> tuple[int, str, str]:
        epoch, _, rest = evr.rpartition(":")
        version, _, release = rest.partition("-")
        return int(epoch or 0), version, release

    (ea, va, ra), (eb, vb, rb) = split(left), split(right)
    if ea != eb:
        return 1 if ea > eb else -1
    return rpmvercmp(va, vb) or rpmvercmp(ra, rb)


def deb_version_compare(left: str, right: str) -> int:
    """Compare Debian versions as dpkg does: -1, 0 or 1."""
    result = version_compare(left, right)
    return (result > 0) - (result < 0)


def select_pruned(
    items: Iterable[Versioned], keep_last: int | None, compare: Callable[[str, str], int]
) -> list[Versioned]:
    """The items a ``keep_last`` policy removes: all but the newest N per channel, name, arch."""
    if keep_last is None:
        return []
    groups: dict[tuple[str, str, str], list[Versioned]] = defaultdict(list)
    for item in items:
        groups[(item.channel, item.name, item.arch)].append(item)
    order = cmp_to_key(compare)
    pruned: list[Versioned] = []
    for key in sorted(groups):
        newest_first = sorted(groups[key], key=lambda item: order(item.version), reverse=True)
        pruned.extend(newest_first[keep_last:])
    return sorted(pruned, key=lambda item: (item.channel, item.name, item.arch, item.path))
