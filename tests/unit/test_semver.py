"""npm-style version ranges (orchestrator/semver.py) against npm's own answers.

``golden/semver_ranges.json`` was made with npm's ``semver`` 7.8.6 (``npm install semver@7``
in a scratch directory, Node 20 from Debian) by a throwaway script that was not kept: for
groups of ranges (carets including 0.x, tildes, x-ranges and stars, hyphen ranges,
comparators with ``rc.0``..``rc.9999`` bounds, ``||`` alternatives, numbers up to
2**53 - 1, versions that are not semver) it crossed each range with the group's versions,
in both modes, and wrote ``[version, range, includePrerelease, semver.satisfies(version,
range, {includePrerelease})]``, one case a line; a range that ``new semver.Range(range,
{includePrerelease})`` refused is written once as ``[null, range, includePrerelease, null]``.
To regenerate, repeat that with the ranges and versions of the file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from orchestrator.errors import TagError
from orchestrator.semver import (
    RangeError,
    VersionRange,
    _partial_bound,
    _wildcard_before_number,
    is_semver,
    package_version_of,
    parse_range,
    precedence_key,
    semver_of_package,
)
from orchestrator.version import parse_tag

GOLDEN = Path(__file__).parent / "golden" / "semver_ranges.json"
# npm reads these as any version (>=) or none (>, <); we refuse them.
STRICTER_THAN_NPM = {">*", "<*", ">=*"}
CASES: list[tuple[str | None, str, bool, bool | None]] = [
    tuple(case) for case in json.loads(GOLDEN.read_text())["cases"]
]


def test_the_golden_file_covers_both_modes_and_refusals() -> None:
    assert len(CASES) >= 1500
    assert GOLDEN.stat().st_size < 200_000
    for mode in (False, True):
        matched = [case for case in CASES if case[2] is mode and case[0] is not None]
        assert any(case[3] for case in matched) and not all(case[3] for case in matched)
        assert any(case[0] is None for case in CASES if case[2] is mode)


@pytest.mark.parametrize("prereleases", [False, True], ids=["default", "includePrerelease"])
def test_agrees_with_npm_on_every_golden_case(prereleases: bool) -> None:
    disagreements = []
    for version, text, mode, expected in CASES:
        if mode is not prereleases:
            continue
        if version is None or text in STRICTER_THAN_NPM:
            try:
                parse_range(text, prereleases=mode)
            except RangeError:
                continue
            disagreements.append(f"{text!r}: we accept the range")
            continue
        got = parse_range(text, prereleases=mode).accepts(version)
        if got is not expected:
            disagreements.append(f"{version!r} in {text!r}: npm {expected}, we {got}")
    assert disagreements == []


@pytest.mark.parametrize(
    ("text", "version", "default", "included"),
    [
        # npm's rule: a pre-release needs a comparator naming a pre-release of its tuple.
        ("^1.2.0", "1.3.0-rc.1", False, True),
        # npm 7.8.6: ^1.2.0 is >=1.2.0 <2.0.0-0 in both modes; ^1.2 is >=1.2.0-0 <2.0.0-0
        # with includePrerelease.
        ("^1.2.0", "1.2.0-rc.1", False, False),
        ("^1.2", "1.2.0-rc.1", False, True),
        ("1.2.x", "1.2.0-rc.1", False, True),
        ("~1.2", "1.2.0-rc.1", False, True),
        ("^1.2.0", "2.0.0-rc.1", False, False),
        (">=1.0.0-name.0 <=1.0.0-name.9999", "1.0.0-name.5", True, True),
        (">=1.0.0-name.0 <=1.0.0-name.9999", "1.0.0", False, False),
        # node-semver alone wrote ^1.2.0 as <2.0.0 and took 2.0.0-beta here.
        ("^1.2.0 >=2.0.0-alpha", "2.0.0-beta", False, False),
        # node-semver alone kept >=0.0.0, which npm drops.
        (">=0.0.0 <=0.0.0-rc.5", "0.0.0-rc.1", True, False),
        # A lone * alternative makes the whole range *, which takes no pre-release.
        ("* || >=1.3.0-rc.1", "1.3.0-rc.2", False, True),
    ],
)
def test_prerelease_rules(text: str, version: str, default: bool, included: bool) -> None:
    assert parse_range(text).accepts(version) is default
    assert parse_range(text, prereleases=True).accepts(version) is included


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "is empty: write a version or a range, e.g. 1.2.3, ^1.2.0"),
        ("   ", "is empty"),
        ("^^1", "'^^1' is not a version, a comparator such as >=1.2.0"),
        ("1.2.3.4", "'1.2.3.4' is not a version"),
        (">=x", "'>=x' puts an operator before a wildcard, which npm reads as any version"),
        (">*", "write * for any version"),
        ("1.x || <X", "operator before a wildcard"),
        (">=1.2.3 garbage", "'garbage' is not a version"),
        ("1.x.2", "'1.x.2' is not a version"),
        ("1" * 257, "is longer than 256 characters: write a shorter range"),
        ("1.2.3\n", "control or non-ASCII character (character 6): write it in plain ASCII"),
        ("^1.2.0\t<2", "control or non-ASCII character"),
        ("^\uff11.2.0", "control or non-ASCII character"),  # a fullwidth 1
        ("1.x ||", "empty alternative around '||', which npm reads as any version"),
        ("|| 1.x", "empty alternative"),
        ("^9007199254740991.0.0", "above 9007199254740991"),
        (">=99999999999999999999.0.0", "write smaller numbers"),
    ],
)
def test_malformed_ranges_say_what_to_write(text: str, fragment: str) -> None:
    with pytest.raises(RangeError) as info:
        parse_range(text)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message and len(message) < 300


def test_constructing_a_range_parses_it() -> None:
    with pytest.raises(RangeError):
        VersionRange("^^1")
    assert VersionRange("~1.2", prereleases=True) == parse_range("~1.2", prereleases=True)
    assert VersionRange("~1.2").accepts("1.2.9")


@pytest.mark.parametrize(
    "text",
    [
        "||" * 10_000,
        "1.x || " * 36 + "1.x",
        "9" * 256,
        "^" + "9" * 255,
        " " * 255 + "1",
        "> " * 128,
        "=v " * 85,
        "v" * 256,
        ">=1.2.3-" + "a." * 124,
        "1." * 128,
        "1.2.3 - " * 32,
        "1.2.3-" + "0" * 250,
        "\x00" * 100_000,
    ],
)
def test_hostile_ranges_are_quick(text: str) -> None:
    started = time.perf_counter()
    try:
        parsed = parse_range(text)
    except RangeError:
        pass
    else:
        parsed.accepts("1." + "9" * 250)
        parsed.best(["1.2.3", "1.2.3-" + "a" * 240, "v" * 256])
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("text", "pin"),
    [
        ("1.2.3", "1.2.3"),
        ("=1.2.3", "1.2.3"),
        ("v1.2.3", "1.2.3"),
        ("= v1.2.3", "1.2.3"),
        ("  1.2.3  ", "1.2.3"),
        ("1.3.0-rc.1", "1.3.0-rc.1"),
        ("1.2.3 1.2.3", "1.2.3"),
        ("1.2", None),
        ("1.2.x", None),
        ("^1.2.3", None),
        ("~1.2.3", None),
        (">=1.2.3", None),
        ("1.2.3 - 1.2.3", None),
        ("1.2.3 || 1.2.4", None),
        ("1.2.3+build.5", None),
        ("*", None),
    ],
)
def test_pin(text: str, pin: str | None) -> None:
    assert parse_range(text).pin == pin


def test_best_is_the_highest_accepted_by_precedence() -> None:
    versions = ["1.2.0", "1.10.0", "1.9.0", "2.0.0", "1.11.0-rc.1", "not-a-version", "1.3.0"]
    assert parse_range("^1.2.0").best(versions) == "1.10.0"
    assert parse_range("^1.2.0", prereleases=True).best(versions) == "1.11.0-rc.1"
    assert parse_range("^3").best(versions) is None
    assert parse_range("*").best([]) is None
    candidates = [f"1.3.0-rc.{n}" for n in (0, 2, 10, 9999, 1)]
    assert parse_range(">=1.3.0-rc.0 <=1.3.0-rc.9999").best(candidates) == "1.3.0-rc.9999"
    # Build metadata does not count for precedence: the first of equals wins.
    assert parse_range("1.2.3").best(["1.2.3+a", "1.2.3+b"]) == "1.2.3+a"


def test_precedence_key_sorts_as_semver_says() -> None:
    # The list in semver.org's section 11, plus numbers that sort numerically.
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.2.0",
        "1.10.0-0",
        "1.10.0",
        "10.0.0",
    ]
    assert sorted(reversed(ordered), key=precedence_key) == ordered
    assert precedence_key("1.2.3+build") == precedence_key("1.2.3")
    with pytest.raises(ValueError, match="is not a semver version"):
        precedence_key("1.2")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3", True),
        ("1.3.0-rc.1", True),
        ("1.3.0-nightly.20261122.103005", True),
        ("1.2.3+build.5", True),
        ("9007199254740991.0.0", True),
        ("9007199254740992.0.0", False),
        ("v1.2.3", False),
        (" 1.2.3", False),
        ("1.2.3\n", False),
        ("=1.2.3", False),
        ("1.2", False),
        ("01.2.3", False),
        ("1.2.3-01", False),
        ("1.2.3-rc..1", False),
        ("1.2.3-" + "a" * 251, False),
        ("", False),
    ],
)
def test_is_semver(text: str, expected: bool) -> None:
    assert is_semver(text) is expected


@pytest.mark.parametrize(
    ("package", "semver"),
    [
        ("1.2.3-1", "1.2.3"),
        ("1.2.3", "1.2.3"),
        ("1.3.0~rc.1-1", "1.3.0-rc.1"),
        ("1.3.0~rc.1", "1.3.0-rc.1"),
        ("2:1.2.3-1", "1.2.3"),
        ("1.3.0~nightly.20261122.103005-1", "1.3.0-nightly.20261122.103005"),
        ("1.2.3-1.el9", "1.2.3"),
        ("garbage", None),
        ("", None),
        ("1.2", None),
        ("1.2.3+dfsg-1", None),
        ("1.3.0-rc.1-1", None),
        ("1.3.0~rc~1-1", None),
        ("1.2.1234567890-1", None),
        ("1" * 300, None),
    ],
)
def test_semver_of_package(package: str, semver: str | None) -> None:
    assert semver_of_package(package) == semver


@pytest.mark.parametrize(
    "semver", ["1.2.3", "1.3.0-rc.1", "1.3.0-nightly.20261122.103005", "0.0.1-0.a.b"]
)
def test_package_version_round_trips(semver: str) -> None:
    package = package_version_of(semver)
    assert package == parse_tag(f"v{semver}").package_version
    assert "-" not in package
    assert semver_of_package(f"{package}-1") == semver
    assert semver_of_package(f"3:{package}-2") == semver
    assert semver_of_package(package) == semver


def test_package_version_of_refuses_what_is_not_a_release() -> None:
    assert package_version_of("1.3.0-rc.1") == "1.3.0~rc.1"
    for bad in ("1.2", "1.2.3+build", "1.3.0-rc-1"):
        with pytest.raises(TagError):
            package_version_of(bad)


@pytest.mark.parametrize(
    ("operator", "major", "minor", "z", "bound"),
    [
        (">", "1", None, "", ">=2.0.0"),
        (">", "1", "2", "-0", ">=1.3.0-0"),
        (">=", "1", "2", "", ">=1.2.0"),
        ("<", "1", None, "", "<1.0.0-0"),
        ("<=", "1", "2", "", "<1.3.0-0"),
        ("<=", "1", None, "-0", "<2.0.0-0"),
    ],
)
def test_an_operator_before_a_partial_version_is_one_bound(
    operator: str, major: str, minor: str | None, z: str, bound: str
) -> None:
    assert _partial_bound(operator, major, minor, z) == bound


def test_a_wildcard_before_a_number_is_left_for_the_comparator_to_refuse() -> None:
    assert _wildcard_before_number("x", "1", None)
    assert _wildcard_before_number("1", "x", "2")
    assert not _wildcard_before_number("1", "x", "x")
    assert not _wildcard_before_number("1", "2", None)
    assert not _wildcard_before_number("*", None, None)
