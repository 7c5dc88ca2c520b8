import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from orchestrator.errors import TagError
from orchestrator.semver import is_semver, semver_of_package
from orchestrator.version import Channel, nightly_release, parse_tag

NOW = datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC)

BAD_TAGS = [
    "v1.2",
    "1.2.3",
    "v01.2.3",
    "v1.02.3",
    "v1.2.03",
    "v1.2.3; rm -rf /",
    "veilid-core-v0.1.0",
    "v1.2.3 ",
    " v1.2.3",
    "",
    "v1.2.3\n",
    "v1.2.3\nv1.2.4",
    "v1.2.3-",
    "v1.2.3-rc..1",
    "v1.2.3-rc.01",
    "v1.2.3+build.5",
    "V1.2.3",
    "v1.2.3-rc.1$(id)",
    "v1." + "9" * 5000 + ".0",
    "v1.2.1234567890",
    "v1.2.3-" + "a" * 200,
]


@pytest.mark.parametrize("tag", BAD_TAGS)
def test_bad_tags_are_rejected_with_one_line(tag: str) -> None:
    with pytest.raises(TagError) as info:
        parse_tag(tag)
    message = str(info.value)
    assert "\n" not in message
    assert "vMAJOR.MINOR.PATCH" in message
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("tag", "version", "channel"),
    [
        ("v1.2.3", "1.2.3", Channel.STABLE),
        ("v0.0.0", "0.0.0", Channel.STABLE),
        ("v10.20.30", "10.20.30", Channel.STABLE),
        ("v1.3.0-rc.1", "1.3.0~rc.1", Channel.TESTING),
        ("v1.3.0-beta.2", "1.3.0~beta.2", Channel.TESTING),
        ("v999999999.0.0", "999999999.0.0", Channel.STABLE),
    ],
)
def test_good_tags(tag: str, version: str, channel: Channel) -> None:
    release = parse_tag(tag)
    assert release.package_version == version
    assert release.channel is channel
    assert release.tag == tag


def test_a_hyphen_in_a_prerelease_is_refused_since_rpm_forbids_it() -> None:
    with pytest.raises(
        TagError, match=r"RPM forbids '-' in Version\): use dots, e.g. v1.3.0-0a.1.x"
    ):
        parse_tag("v1.3.0-0a.1-x")


def test_nightly_is_next_minor_with_tilde() -> None:
    nightly = nightly_release(parse_tag("v1.2.3"), NOW)
    assert nightly.package_version == "1.3.0~nightly.20261122.103005"
    assert nightly.channel is Channel.NIGHTLY
    assert nightly.core == "1.3.0"


@pytest.mark.parametrize(
    ("hour", "minute", "second", "stamp"),
    [(5, 45, 0, "54500"), (0, 0, 7, "7"), (0, 0, 0, "0"), (9, 59, 59, "95959")],
)
def test_an_early_nightly_is_still_semver(hour: int, minute: int, second: int, stamp: str) -> None:
    # Semver forbids leading zeros in a number: 05:45:00 as 054500 was no version at all.
    moment = datetime(2026, 12, 7, hour, minute, second, tzinfo=UTC)
    nightly = nightly_release(parse_tag("v1.2.3"), moment)
    assert nightly.package_version == f"1.3.0~nightly.20261207.{stamp}"
    assert is_semver(nightly.semver)
    assert semver_of_package(nightly.package_version + "-1") == nightly.semver
    later = nightly_release(parse_tag("v1.2.3"), moment.replace(hour=10, minute=0, second=0))
    if shutil.which("dpkg"):
        lower, higher = nightly.package_version, later.package_version
        assert subprocess.run(["dpkg", "--compare-versions", lower, "lt", higher]).returncode == 0


def test_nightly_refuses_prerelease_base() -> None:
    with pytest.raises(TagError, match="pre-release"):
        nightly_release(parse_tag("v1.3.0-rc.1"), NOW)


# Each pair must sort strictly ascending in both dpkg's and rpm's own comparison.
ORDERED = [
    ("1.2.3", "1.3.0~nightly.20261122.103005"),
    ("1.2.4", "1.3.0~nightly.20261122.103005"),
    ("1.3.0~nightly.20261122.103005", "1.3.0~nightly.20261123.000000"),
    ("1.3.0~nightly.20261122.103005", "1.3.0"),
    ("1.3.0~rc.1", "1.3.0"),
    ("1.3.0~beta.2", "1.3.0~rc.1"),
    ("1.3.0~nightly.20261122.103005", "1.3.0~rc.1"),
]


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg not installed")
@pytest.mark.parametrize(("lower", "higher"), ORDERED)
def test_dpkg_ordering(lower: str, higher: str) -> None:
    result = subprocess.run(["dpkg", "--compare-versions", lower, "lt", higher], check=False)
    assert result.returncode == 0, f"dpkg says {lower} is not below {higher}"


@pytest.mark.skipif(shutil.which("rpm") is None, reason="rpm not installed")
@pytest.mark.parametrize(("lower", "higher"), ORDERED)
def test_rpm_ordering(lower: str, higher: str) -> None:
    # rpm's own comparison (rpmvercmp) through its embedded Lua.
    expression = f"%{{lua: print(rpm.vercmp('{lower}', '{higher}'))}}"
    result = subprocess.run(
        ["rpm", "--eval", expression], check=True, capture_output=True, text=True
    )
    assert result.stdout.strip() == "-1", f"rpm says {lower} is not below {higher}"
