"""npm-style version ranges for environments, with npm's pre-release rules.

An environment pins a version (``1.2.3``) or names a range (``^1.2.0``, ``~1.2``, ``1.x``,
``>=1.3.0-rc.0 <=1.3.0-rc.9999``, ``1.2.3 - 1.4``, ``A || B``), read exactly as npm's
``semver`` 7 reads it. By default a pre-release satisfies a range only when a comparator
of the matching set names a pre-release of the same ``MAJOR.MINOR.PATCH``, so ``^1.2.0``
never picks ``1.3.0-rc.1``; ``prereleases=True`` is npm's ``includePrerelease``.

``node-semver`` (PyPI) parses versions and comparators, compares them and applies the
default pre-release rule. The sugar (carets, tildes, x-ranges, hyphens, ``*``) is expanded
here, because node-semver ports an older npm: it writes ``^1.2.0`` as ``>=1.2.0 <2.0.0``
where npm 7 writes ``>=1.2.0 <2.0.0-0``, so ``^1.2.0 >=2.0.0-alpha`` took ``2.0.0-beta``;
it kept ``>=0.0.0`` where npm drops it, and its ``include_prerelease`` compares every
pre-release equal to its release. The golden file of npm's own answers
(``tests/unit/golden/semver_ranges.json``) holds this module to npm in both modes.

Stricter than npm on purpose (an environment's range decides what runs in production):
an empty range, an empty alternative around ``||`` (npm reads it as "any version"), an
operator before a wildcard (``>=x`` is any version to npm, ``>*`` none), control and
non-ASCII characters and ranges over 256 characters are errors.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import TagError
from orchestrator.version import parse_tag

MAX_RANGE_LENGTH = 256
# npm's limits: longer versions and larger numbers are not versions at all.
MAX_VERSION_LENGTH = 256
MAX_SAFE_INTEGER = 2**53 - 1

_EXAMPLES = "e.g. 1.2.3, ^1.2.0, ~1.2, 1.x or >=1.3.0-rc.0 <=1.3.0-rc.9999"
# Plain printable ASCII: Python's \d and \s would also take other scripts' digits and spaces.
_PRINTABLE = re.compile(r"[ -~]*")
_JS_WHITESPACE = " \t\n\v\f\r"

# The version grammar npm's strict parser accepts (the one node-semver's FULL also encodes).
_NUMBER = r"(?:0|[1-9][0-9]*)"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_ID = r"[0-9A-Za-z-]+"
_PRERELEASE = rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))"
_BUILD = rf"(?:\+{_BUILD_ID}(?:\.{_BUILD_ID})*)"
_SEMVER = re.compile(
    rf"(?P<major>{_NUMBER})\.(?P<minor>{_NUMBER})\.(?P<patch>{_NUMBER}){_PRERELEASE}?{_BUILD}?",
    re.ASCII,
)

# The range grammar of npm's re.js (strict mode); X is a number or a wildcard.
_X = r"0|[1-9][0-9]*|x|X|\*"
_XRANGE_PLAIN = (
    rf"[v= ]*({_X})(?:\.({_X})(?:\.({_X})(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?(?:{_BUILD})?)?)?"
)
_GTLT = r"((?:<|>)?=?)"
_CARET = re.compile(rf"\^{_XRANGE_PLAIN}", re.ASCII)
_TILDE = re.compile(rf"~>?{_XRANGE_PLAIN}", re.ASCII)
_XRANGE = re.compile(rf"{_GTLT} *{_XRANGE_PLAIN}", re.ASCII)
_HYPHEN = re.compile(rf" *({_XRANGE_PLAIN}) +- +({_XRANGE_PLAIN}) *", re.ASCII)
_BUILD_ANYWHERE = re.compile(_BUILD, re.ASCII)
_TILDE_TRIM = re.compile(r"( *)~>? +")
_CARET_TRIM = re.compile(r"( *)\^ +")
_STAR = re.compile(r"(<|>)?=? *\*")
_GTE0 = re.compile(r" *>= *0\.0\.0 *")
_GTE0_PRE = re.compile(r" *>= *0\.0\.0-0 *")
_NULL_SET = "<0.0.0-0"


# (major, minor, patch, 1 for a release or 0 for a pre-release, pre-release identifiers);
# an identifier is (0, number, "") or (1, 0, text): numbers sort below names, as semver says.
_Key = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]


@functools.cache
def _node_semver() -> Any:
    """node-semver, imported on first use.

    Importing it compiles a few dozen regular expressions, which every task would
    otherwise pay for to be listed.
    """
    import nodesemver  # type: ignore[import-untyped]

    return nodesemver


class RangeError(ValueError):
    """A version range that cannot be parsed; the message says what to write instead."""


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


@dataclass(frozen=True)
class VersionRange:
    """A parsed range; ``prereleases`` is npm's ``includePrerelease``.

    Constructing one parses ``text`` (:class:`RangeError` if malformed), as
    :func:`parse_range` does.
    """

    text: str
    prereleases: bool = False
    # The alternatives of the range, each a tuple of node-semver Comparators (ANDed).
    _sets: tuple[tuple[Any, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sets", _parse(self.text, self.prereleases))

    def accepts(self, version: str) -> bool:
        """Whether ``version`` (semver text such as ``1.3.0-rc.1``) satisfies the range."""
        parsed = _parse_version(version)
        if parsed is None:
            return False
        return any(self._accepted_by(comparators, parsed) for comparators in self._sets)

    def _accepted_by(self, comparators: tuple[Any, ...], version: Any) -> bool:
        if self.prereleases:
            # npm's includePrerelease: pre-releases are ordinary versions. node-semver's own
            # include_prerelease flag would also make 1.3.0-rc.1 compare equal to 1.3.0.
            return all(comparator.test(version) for comparator in comparators)
        return bool(_node_semver().test_set(list(comparators), version))

    def best(self, versions: Iterable[str]) -> str | None:
        """The highest of ``versions`` (by semver precedence) the range accepts; the first on a tie."""
        best: str | None = None
        best_key: _Key | None = None
        for version in versions:
            if not self.accepts(version):
                continue
            key = precedence_key(version)
            if best_key is None or key > best_key:
                best, best_key = version, key
        return best

    @property
    def pin(self) -> str | None:
        """The exact version when the range names one (``1.2.3``, ``=1.2.3``, ``v1.2.3``), else None."""
        # Build metadata is stripped before matching, so "1.2.3+b" takes any 1.2.3 build.
        if len(self._sets) != 1 or len(self._sets[0]) != 1 or "+" in self.text:
            return None
        comparator = self._sets[0][0]
        if comparator.semver is _node_semver().ANY or comparator.operator not in ("", "="):
            return None
        return str(comparator.semver.version)


def parse_range(text: str, *, prereleases: bool = False) -> VersionRange:
    """Parse an npm-style range; :class:`RangeError` says what is wrong and what to write."""
    return VersionRange(text, prereleases)


def _parse(text: str, prereleases: bool) -> tuple[tuple[Any, ...], ...]:
    """The alternatives of ``text`` as tuples of node-semver Comparators."""
    if not isinstance(text, str) or not text.strip(" "):
        raise RangeError(f"the version range is empty: write a version or a range, {_EXAMPLES}")
    if len(text) > MAX_RANGE_LENGTH:
        raise RangeError(
            f"version range {_shown(text)} is longer than {MAX_RANGE_LENGTH} characters: "
            f"write a shorter range, {_EXAMPLES}"
        )
    printable = _PRINTABLE.match(text)
    if printable is not None and printable.end() != len(text):
        raise RangeError(
            f"version range {_shown(text)} has a control or non-ASCII character (character "
            f"{printable.end() + 1}): write it in plain ASCII, {_EXAMPLES}"
        )
    # npm squeezes whitespace first, which also keeps its patterns' backtracking linear.
    normal = " ".join(text.split())
    return _collapse(
        [_parse_alternative(part.strip(), normal, prereleases) for part in normal.split("||")]
    )


def _collapse(sets: list[tuple[Any, ...]]) -> tuple[tuple[Any, ...], ...]:
    """Clean up alternatives as npm does, which the default pre-release rule can notice.

    Null sets (``<0.0.0-0``) go when others remain; an alternative that is only ``*``
    makes the whole range ``*``, so ``* || >=1.3.0-rc.1`` takes no pre-release.
    """
    if len(sets) <= 1:
        return tuple(sets)
    kept = [comparators for comparators in sets if comparators[0].value != _NULL_SET]
    if not kept:
        return (sets[0],)
    for comparators in kept:
        if len(comparators) == 1 and comparators[0].value == "":
            return (comparators,)
    return tuple(kept)


def _parse_alternative(part: str, whole: str, prereleases: bool) -> tuple[Any, ...]:
    """One side of ``||`` as node-semver Comparators, desugared the way npm 7 does it."""
    if not part:
        raise RangeError(
            f"version range {_shown(whole)} has an empty alternative around '||', which npm "
            "reads as any version: remove it, or write * if any version will do"
        )
    part = _BUILD_ANYWHERE.sub("", part)
    if hyphen := _HYPHEN.fullmatch(part):
        part = _hyphen(hyphen, prereleases)
    part = _trim_comparators(part)
    part = _TILDE_TRIM.sub(r"\1~", part)
    part = _CARET_TRIM.sub(r"\1^", part)
    gte0 = _GTE0_PRE if prereleases else _GTE0
    # Every comparator must parse, even after a null set (npm builds them all first).
    comparators = []
    for token in part.split(" "):
        try:
            desugared = _desugar(token, prereleases)
        except RangeError as error:
            raise RangeError(f"version range {_shown(whole)}: {error}") from None
        comparators += [
            _comparator("" if gte0.fullmatch(piece) else piece, token, whole)
            for piece in desugared.split(" ")
        ]
    by_value: dict[str, Any] = {}
    for comparator in comparators:
        if comparator.value == _NULL_SET:
            return (comparator,)
        by_value[comparator.value] = comparator
    if len(by_value) > 1:
        by_value.pop("", None)
    return tuple(by_value.values())


def _comparator(text: str, token: str, whole: str) -> Any:
    """A node-semver Comparator, or RangeError naming the token of the range at fault."""
    try:
        comparator = _node_semver().Comparator(text, False)
    except ValueError:
        comparator = None
    if comparator is None:
        raise RangeError(
            f"version range {_shown(whole)}: {_shown(token)} is not a version, a comparator "
            f"such as >=1.2.0, a caret, tilde, x-range or hyphen range: write one, {_EXAMPLES}"
        )
    semver = comparator.semver
    if semver is not _node_semver().ANY and max(semver.major, semver.minor, semver.patch) > (
        MAX_SAFE_INTEGER
    ):
        raise RangeError(
            f"version range {_shown(whole)}: {_shown(token)} needs a number above "
            f"{MAX_SAFE_INTEGER}, which npm cannot represent: write smaller numbers"
        )
    return comparator


_TRIM_COMPARATOR = re.compile(r"([<>]=?|=) (?=[v= ]*[0-9xX*])")


def _trim_comparators(part: str) -> str:
    """``> 1.2.3 < 2`` -> ``>1.2.3 <2``: join an operator to the version after it."""
    return _TRIM_COMPARATOR.sub(r"\1", part)


def _is_x(part: str | None) -> bool:
    return not part or part in ("x", "X", "*")


def _desugar(token: str, prereleases: bool) -> str:
    """A caret, tilde, x-range or star as plain comparators, exactly as npm 7 writes them."""
    # In includePrerelease mode a lower bound a sugar implies starts at the lowest pre-release.
    z = "-0" if prereleases else ""
    if match := _CARET.fullmatch(token):
        token = _caret(match, z)
    elif match := _TILDE.fullmatch(token):
        token = _tilde(match, z)
    elif match := _XRANGE.fullmatch(token):
        token = _xrange(match, z)
    # npm drops the first star left over ("*" itself, and oddly "1.2.3*").
    return _STAR.sub("", token, count=1).strip(" ")


def _within_major(major: str, z: str) -> str:
    """``1.x``: every version of major 1, from its first (pre-)release."""
    return f">={major}.0.0{z} <{int(major) + 1}.0.0-0"


def _within_minor(major: str, minor: str, z: str) -> str:
    """``1.2.x``: every version of 1.2, from its first (pre-)release."""
    return f">={major}.{minor}.0{z} <{major}.{int(minor) + 1}.0-0"


def _caret(match: re.Match[str], z: str) -> str:
    major, minor, patch, pre = match[1], match[2], match[3], match[4]
    if _is_x(major):
        return ""
    if _is_x(minor):
        return _within_major(major, z)
    if _is_x(patch):
        if major == "0":
            return _within_minor("0", minor, z)
        return f">={major}.{minor}.0{z} <{int(major) + 1}.0.0-0"
    low = f">={major}.{minor}.{patch}-{pre}" if pre else f">={major}.{minor}.{patch}"
    if major == "0" and minor == "0":
        return f"{low} <0.0.{int(patch) + 1}-0"
    if major == "0":
        return f"{low} <0.{int(minor) + 1}.0-0"
    return f"{low} <{int(major) + 1}.0.0-0"


def _tilde(match: re.Match[str], z: str) -> str:
    major, minor, patch, pre = match[1], match[2], match[3], match[4]
    if _is_x(major):
        return ""
    if _is_x(minor):
        return _within_major(major, z)
    if _is_x(patch):
        return _within_minor(major, minor, z)
    low = f">={major}.{minor}.{patch}-{pre}" if pre else f">={major}.{minor}.{patch}"
    return f"{low} <{major}.{int(minor) + 1}.0-0"


def _xrange(match: re.Match[str], z: str) -> str:
    """An x-range (``*``, ``1.x``, ``1.2``, ``>1.2``) as plain comparators; a full version as is."""
    gtlt, major, minor, patch = match[1], match[2], match[3], match[4]
    if _wildcard_before_number(major, minor, patch) or not any(
        _is_x(part) for part in (major, minor, patch)
    ):
        return match[0]
    operator = "" if gtlt == "=" else gtlt
    if _is_x(major):
        return _any_version(operator, match[0])
    partial_minor = None if _is_x(minor) else minor
    if operator:
        return _partial_bound(operator, major, partial_minor, z)
    if partial_minor is None:
        return _within_major(major, z)
    return _within_minor(major, partial_minor, z)


def _wildcard_before_number(major: str, minor: str | None, patch: str | None) -> bool:
    """``x.1`` or ``1.x.2``: npm leaves these alone, so they fail as comparators."""
    return (_is_x(major) and not _is_x(minor)) or (
        _is_x(minor) and bool(patch) and not _is_x(patch)
    )


def _any_version(operator: str, token: str) -> str:
    """``*`` for a wildcard major; RangeError if an operator stands before it."""
    if operator:
        # npm reads >=x as any version and >x as none: neither belongs in an inventory.
        raise RangeError(
            f"{_shown(token)} puts an operator before a wildcard, which npm reads as any "
            "version or none: write * for any version, or a version such as >=1.2.0"
        )
    return "*"


# An operator before a partial version (1 or 1.2): the operator it becomes, and whether its
# bound moves past the versions the partial one names. >1.2 is >=1.3.0; <=1.2 takes every
# 1.2.x, so it is <1.3.0; >=1.2 and <1.2 stay at 1.2.0.
_PARTIAL_BOUNDS = {">": (">=", True), ">=": (">=", False), "<": ("<", False), "<=": ("<", True)}


def _partial_bound(operator: str, major: str, minor: str | None, z: str) -> str:
    """``>1.2`` -> ``>=1.3.0``: one bound on a partial version (``minor`` None for ``1``)."""
    bound, past = _PARTIAL_BOUNDS[operator]
    step = 1 if past else 0
    if minor is None:
        major_n, minor_n = int(major) + step, 0
    else:
        major_n, minor_n = int(major), int(minor) + step
    # An upper bound stops below every pre-release of the version it names.
    suffix = "-0" if bound == "<" else z
    return f"{bound}{major_n}.{minor_n}.0{suffix}"


def _hyphen(match: re.Match[str], prereleases: bool) -> str:
    """``1.2 - 3.4`` -> ``>=1.2.0 <3.5.0-0``, as npm 7 writes a hyphen range."""
    start, s_major, s_minor, s_patch, s_pre = match[1], match[2], match[3], match[4], match[5]
    end, e_major, e_minor, e_patch, e_pre = match[6], match[7], match[8], match[9], match[10]
    z = "-0" if prereleases else ""
    if _is_x(s_major):
        low = ""
    elif _is_x(s_minor):
        low = f">={s_major}.0.0{z}"
    elif _is_x(s_patch):
        low = f">={s_major}.{s_minor}.0{z}"
    elif s_pre:
        low = f">={start}"
    else:
        low = f">={start}{z}"
    if _is_x(e_major):
        high = ""
    elif _is_x(e_minor):
        high = f"<{int(e_major) + 1}.0.0-0"
    elif _is_x(e_patch):
        high = f"<{e_major}.{int(e_minor) + 1}.0-0"
    elif e_pre:
        high = f"<={e_major}.{e_minor}.{e_patch}-{e_pre}"
    elif prereleases:
        high = f"<{e_major}.{e_minor}.{int(e_patch) + 1}-0"
    else:
        high = f"<={end}"
    return f"{low} {high}".strip()


def _parse_version(version: str) -> Any:
    """A node-semver SemVer for what npm takes as a version (``v`` and spaces around allowed), else None."""
    if not isinstance(version, str) or len(version) > MAX_VERSION_LENGTH:
        return None
    text = version.strip(_JS_WHITESPACE)
    if text.startswith("v"):
        text = text[1:]
    match = _SEMVER.fullmatch(text)
    if match is None or max(int(match[name]) for name in ("major", "minor", "patch")) > (
        MAX_SAFE_INTEGER
    ):
        return None
    return _node_semver().SemVer(text, False, False)


def is_semver(text: str) -> bool:
    """Whether ``text`` is exactly a semver 2.0 version (``1.3.0-rc.1``; no ``v``, no spaces)."""
    return (
        isinstance(text, str)
        and len(text) <= MAX_VERSION_LENGTH
        and _SEMVER.fullmatch(text) is not None
        and _parse_version(text) is not None
    )


def precedence_key(version: str) -> _Key:
    """A sort key by semver precedence (build metadata ignored); ValueError for a non-version."""
    text = version.strip(_JS_WHITESPACE) if isinstance(version, str) else ""
    match = _SEMVER.fullmatch(text[1:] if text.startswith("v") else text)
    if match is None or len(text) > MAX_VERSION_LENGTH:
        raise ValueError(f"{_shown(str(version))} is not a semver version such as 1.3.0-rc.1")
    pre = match["pre"]
    identifiers = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in (pre or "").split(".")
    )
    core = (int(match["major"]), int(match["minor"]), int(match["patch"]))
    return (*core, 0, identifiers) if pre else (*core, 1, ())


_DEBIAN_EPOCH = re.compile(r"[0-9]+:")


def semver_of_package(package_version: str) -> str | None:
    """The semver of a Debian/RPM package version (``1.3.0~rc.1-1`` -> ``1.3.0-rc.1``), else None.

    Releases map the tag's pre-release ``-`` to ``~`` and nfpm appends the revision ``-1``;
    the epoch and the revision are dropped. Only what :func:`package_version_of` would
    give back counts, so a foreign package's ``1.2.3+dfsg-1`` is None, not a guess.
    """
    if not isinstance(package_version, str) or len(package_version) > MAX_VERSION_LENGTH:
        return None
    upstream = package_version
    if epoch := _DEBIAN_EPOCH.match(upstream):
        upstream = upstream[epoch.end() :]
    # dpkg's rule: the revision is what follows the last hyphen.
    upstream = upstream.rsplit("-", 1)[0] if "-" in upstream else upstream
    version = upstream.replace("~", "-", 1)
    if not is_semver(version):
        return None
    try:
        return version if package_version_of(version) == upstream else None
    except TagError:
        return None


def package_version_of(semver: str) -> str:
    """The upstream package version of a release version: ``1.3.0-rc.1`` -> ``1.3.0~rc.1``.

    It is what :func:`orchestrator.version.parse_tag` gives for the tag ``v`` + ``semver``,
    and raises its :class:`~orchestrator.errors.TagError` for anything that is not a release.
    """
    return parse_tag(f"v{semver}").package_version
