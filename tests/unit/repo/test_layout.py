from __future__ import annotations

import pytest

from orchestrator.repo.layout import (
    by_hash_paths,
    deb_file_name,
    pool_file_arch,
    pool_path,
    pool_prefix,
)


@pytest.mark.parametrize(
    ("source", "prefix"), [("hello", "h"), ("libfoo", "libf"), ("lib", "l"), ("0ad", "0")]
)
def test_pool_prefix_follows_debian(source: str, prefix: str) -> None:
    assert pool_prefix(source) == prefix


def test_pool_path_and_file_name_drop_the_epoch() -> None:
    name = deb_file_name("libfoo1", "2:1.0-1", "arm64")
    assert name == "libfoo1_1.0-1_arm64.deb"
    assert pool_path("libfoo", name) == "pool/main/libf/libfoo/libfoo1_1.0-1_arm64.deb"
    assert pool_file_arch(pool_path("libfoo", name)) == "arm64"


def test_by_hash_paths_sit_beside_the_index() -> None:
    assert by_hash_paths("main/binary-amd64/Packages.xz", "aa", "bb") == (
        "main/binary-amd64/by-hash/SHA256/aa",
        "main/binary-amd64/by-hash/SHA512/bb",
    )
