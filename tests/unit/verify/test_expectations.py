from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config.inventory import load_inventory
from orchestrator.verify.expectations import (
    apt_sources,
    channel_of,
    deb_versions,
    expectations,
    pick_deb_version,
    repoquery_locations,
    rpm_repo_file,
    rpm_spec,
)
from orchestrator.verify.table import CheckResult, render_table

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("version", "channel"),
    [("1.2.3", "stable"), ("1.3.0~rc.1", "testing"), ("1.3.0~nightly.20261122.103005", "nightly")],
)
def test_channel_of_a_version(version: str, channel: str) -> None:
    assert channel_of(version) == channel


def test_expectations_of_the_sandbox_inventory() -> None:
    inventory = load_inventory(ROOT / "inventory" / "sandbox.yaml")

    every = expectations(inventory, None, None)
    assert every.channels == ("stable", "testing", "nightly") and not every.explicit_channels
    assert (every.deb_arches, every.rpm_arches) == (("amd64", "arm64"), ("aarch64", "x86_64"))
    assert expectations(inventory, "1.3.0~rc.1", None).channels == ("testing",)
    pinned = expectations(inventory, "1.2.3", "nightly")
    assert (pinned.channels, pinned.explicit_channels, pinned.version) == (
        ("nightly",),
        True,
        "1.2.3",
    )


def test_client_files_name_the_target_url() -> None:
    assert apt_sources("http://r", "stable", "/k.gpg", ["amd64", "arm64"]) == (
        "deb [arch=amd64,arm64 signed-by=/k.gpg] http://r/deb stable main\n"
    )
    assert rpm_repo_file("http://r", "demo", "testing") == (
        "[demo-testing]\nname=demo (testing)\nbaseurl=http://r/rpm/testing/$basearch\n"
        "enabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey=http://r/keys/demo.asc\n"
    )


def test_versions_from_client_output() -> None:
    shown = "Package: demo\nVersion: 1:1.2.3-1\n\nPackage: demo\nVersion: 1.2.4-2\n"
    assert deb_versions(shown) == ["1:1.2.3-1", "1.2.4-2"]
    assert pick_deb_version(deb_versions(shown), "1.2.3") == "1:1.2.3-1"
    assert pick_deb_version(deb_versions(shown), "1.2") is None
    assert rpm_spec("demo", None) == "demo" and rpm_spec("demo", "1.3.0~rc.1") == "demo-1.3.0~rc.1"
    query = "Last metadata expiration check: 0:00:01 ago.\nhttp://r/rpm/stable/x86_64/packages/demo-1.rpm\n"
    assert repoquery_locations(query) == ["http://r/rpm/stable/x86_64/packages/demo-1.rpm"]


def test_the_table() -> None:
    table = render_table(
        [
            CheckResult("sandbox-repo", "apt", "stable", "amd64", True, "downloaded demo.deb"),
            CheckResult("spaces", "dnf", "stable", "aarch64", False, "Bad GPG signature"),
        ]
    )
    assert table.splitlines() == [
        "repository    client  channel  architecture  result",
        "sandbox-repo  apt     stable   amd64         ok: downloaded demo.deb",
        "spaces        dnf     stable   aarch64       FAILED: Bad GPG signature",
        "1 of 2 checks passed",
    ]
