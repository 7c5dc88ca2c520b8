from datetime import UTC, datetime

import pytest
from packaging.version import Version

from orchestrator.version import nightly_release, parse_tag, python_version


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("v1.2.3", "1.2.3"),
        ("v1.3.0-rc.1", "1.3.0rc1"),
        ("v1.3.0-rc1", "1.3.0rc1"),
        ("v1.3.0-rc", "1.3.0rc0"),
        ("v2.0.0-alpha.2", "2.0.0a2"),
        ("v2.0.0-a.2", "2.0.0a2"),
        ("v2.0.0-beta.10", "2.0.0b10"),
        ("v2.0.0-b3", "2.0.0b3"),
        ("v2.0.0-pre.4", "2.0.0rc4"),
        ("v2.0.0-dev.7", "2.0.0.dev7"),
    ],
)
def test_tags_map_to_pep440(tag: str, expected: str) -> None:
    assert python_version(parse_tag(tag)) == expected


@pytest.mark.parametrize("tag", ["v1.0.0-foo.1", "v1.0.0-rc.1.2", "v1.0.0-rc.x", "v1.0.0-1"])
def test_prereleases_pep440_cannot_say_map_to_none(tag: str) -> None:
    assert python_version(parse_tag(tag)) is None


def test_a_nightly_is_a_dev_release_of_the_next_minor() -> None:
    nightly = nightly_release(parse_tag("v1.2.3"), datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC))
    mapped = python_version(nightly)
    assert mapped == "1.3.0.dev20261122103005"
    # The order the deb and rpm versions have: above 1.2.3, below 1.3.0 and its pre-releases.
    assert Version("1.2.3") < Version(mapped) < Version("1.3.0a1") < Version("1.3.0")


def test_pre_releases_sort_below_the_release() -> None:
    rc = python_version(parse_tag("v1.3.0-rc.1"))
    assert rc is not None
    assert Version("1.2.3") < Version(rc) < Version("1.3.0")
