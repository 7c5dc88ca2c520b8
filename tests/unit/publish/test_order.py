from __future__ import annotations

import pytest

from orchestrator.publish.s3.order import (
    BY_HASH,
    IMMUTABLE,
    IN_RELEASE,
    INDEX,
    METADATA,
    POOL,
    RELEASE,
    cache_control,
    content_type,
    tier,
    upload_tiers,
)

HASH = "0" * 64
PATHS = [
    "deb/dists/stable/InRelease",
    "deb/dists/stable/Release",
    "deb/dists/stable/Release.gpg",
    "deb/dists/stable/main/binary-amd64/Packages.xz",
    f"deb/dists/stable/main/binary-amd64/by-hash/SHA256/{HASH}",
    "deb/pool/main/d/demo/demo_1.0.0-1_amd64.deb",
    "rpm/stable/x86_64/repodata/repomd.xml.asc",
    "rpm/stable/x86_64/repodata/repomd.xml",
    f"rpm/stable/x86_64/repodata/{HASH}-primary.xml.gz",
    "rpm/stable/x86_64/packages/demo-1.0.0-1.x86_64.rpm",
    "keys/demo.asc",
    "index.html",
]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("deb/pool/main/d/demo/demo_1.0.0-1_amd64.deb", POOL),
        ("rpm/stable/x86_64/packages/demo-1.0.0-1.x86_64.rpm", POOL),
        ("keys/demo.asc", POOL),
        ("deb/demo-stable.sources", POOL),
        (f"deb/dists/stable/main/binary-arm64/by-hash/SHA512/{HASH}", BY_HASH),
        (f"rpm/testing/aarch64/repodata/{HASH}-filelists.xml.gz", BY_HASH),
        ("deb/dists/stable/main/binary-arm64/Packages.gz", INDEX),
        ("deb/dists/stable/Release.gpg", RELEASE),
        ("rpm/stable/x86_64/repodata/repomd.xml", RELEASE),
        ("deb/dists/stable/InRelease", IN_RELEASE),
    ],
)
def test_tiers(path: str, expected: int) -> None:
    assert tier(path) == expected


def test_upload_tiers_put_metadata_last_and_repomd_back_to_back() -> None:
    tiers = upload_tiers(PATHS)

    assert tiers == [
        [
            ("deb/pool/main/d/demo/demo_1.0.0-1_amd64.deb",),
            ("index.html",),
            ("keys/demo.asc",),
            ("rpm/stable/x86_64/packages/demo-1.0.0-1.x86_64.rpm",),
        ],
        [
            (f"deb/dists/stable/main/binary-amd64/by-hash/SHA256/{HASH}",),
            (f"rpm/stable/x86_64/repodata/{HASH}-primary.xml.gz",),
        ],
        [("deb/dists/stable/main/binary-amd64/Packages.xz",)],
        [
            ("deb/dists/stable/Release",),
            ("deb/dists/stable/Release.gpg",),
            ("rpm/stable/x86_64/repodata/repomd.xml.asc", "rpm/stable/x86_64/repodata/repomd.xml"),
        ],
        [("deb/dists/stable/InRelease",)],
    ]


def test_empty_tiers_are_left_out() -> None:
    assert upload_tiers(["deb/dists/stable/InRelease", "keys/demo.gpg"]) == [
        [("keys/demo.gpg",)],
        [("deb/dists/stable/InRelease",)],
    ]
    assert upload_tiers([]) == []


def test_cache_control_long_only_for_content_addressed_objects() -> None:
    assert cache_control("deb/pool/main/d/demo/demo_1.0.0-1_amd64.deb") == IMMUTABLE
    assert cache_control(f"deb/dists/stable/main/binary-amd64/by-hash/SHA256/{HASH}") == IMMUTABLE
    assert cache_control(f"rpm/stable/x86_64/repodata/{HASH}-other.xml.gz") == IMMUTABLE
    assert cache_control("rpm/stable/x86_64/packages/demo-1.0.0-1.x86_64.rpm") == IMMUTABLE
    for path in ("deb/dists/stable/InRelease", "rpm/stable/x86_64/repodata/repomd.xml",
                 "rpm/stable/x86_64/repodata/repomd.xml.key", "keys/demo.asc", "index.html"):  # fmt: skip
        assert cache_control(path) == METADATA


def test_content_types() -> None:
    assert content_type("deb/pool/x.deb") == "application/vnd.debian.binary-package"
    assert content_type("deb/dists/stable/InRelease").startswith("text/plain")
    assert content_type("index.html").startswith("text/html")
    assert (
        content_type(f"deb/dists/s/main/binary-amd64/by-hash/SHA256/{HASH}")
        == "application/octet-stream"
    )
