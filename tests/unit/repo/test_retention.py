from __future__ import annotations

import pytest

from orchestrator.repo.retention import (
    Versioned,
    deb_version_compare,
    rpm_evr_compare,
    rpmvercmp,
    select_pruned,
)


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("1.0", "1.0", 0),
        ("1.0", "2.0", -1),
        ("2.0.1", "2.0.1a", -1),
        ("5.5p10", "5.5p1", 1),
        ("10xyz", "10.1xyz", -1),
        ("1.0~rc1", "1.0", -1),
        ("1.0~rc1", "1.0~rc2", -1),
        ("1.0^", "1.0", 1),
        ("1.0^git1", "1.0.1", -1),
        ("1.0~rc1^git1", "1.0~rc1", 1),
        ("a", "1", -1),
        ("1.3.0~nightly.20261122.103005", "1.3.0", -1),
        ("1.3.0~nightly.20261122.103005", "1.2.3", 1),
    ],
)
def test_rpmvercmp_matches_rpm(left: str, right: str, expected: int) -> None:
    assert rpmvercmp(left, right) == expected
    assert rpmvercmp(right, left) == -expected


def test_rpm_evr_compare_uses_epoch_then_version_then_release() -> None:
    assert rpm_evr_compare("1:1.0-1", "0:9.0-1") == 1
    assert rpm_evr_compare("0:1.0-2", "0:1.0-10") == -1
    assert rpm_evr_compare("1.0-1", "0:1.0-1") == 0


def test_deb_version_compare_handles_tilde() -> None:
    assert deb_version_compare("1.3.0~rc.1", "1.3.0") == -1
    assert deb_version_compare("1:0.1", "2.0") == 1


def _item(name: str, version: str, arch: str = "amd64", channel: str = "stable") -> Versioned:
    return Versioned(channel, name, arch, version, f"{channel}/{name}_{version}_{arch}")


def test_select_pruned_keeps_the_newest_per_channel_name_and_arch() -> None:
    items = [
        _item("app", "1.10.0"),
        _item("app", "1.9.0"),
        _item("app", "1.2.0"),
        _item("app", "1.2.0", arch="arm64"),
        _item("app", "1.0.0", channel="testing"),
        _item("lib", "0.1"),
    ]
    pruned = select_pruned(items, 2, deb_version_compare)
    assert pruned == [_item("app", "1.2.0")]


def test_select_pruned_keeps_everything_without_a_limit() -> None:
    assert select_pruned([_item("a", "1"), _item("a", "2")], None, deb_version_compare) == []
