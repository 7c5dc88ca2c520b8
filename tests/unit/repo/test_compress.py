from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestrator.repo.compress import (
    MAX_SEGMENTS,
    SEGMENT_PACKAGES,
    gzip_member,
    segment_count,
    segment_key,
    segments,
    xz_block,
    xz_stream,
)

PIECES = [b"Package: a\n\n" * 500, b"", b"Package: b\n\n", bytes(range(256)) * 40]


def test_xz_blocks_in_one_stream_decompress_to_the_joined_pieces() -> None:
    data = xz_stream([xz_block(piece) for piece in PIECES])
    assert lzma.decompress(data) == b"".join(PIECES)
    assert lzma.decompress(xz_stream([])) == b""


def test_gzip_members_concatenate() -> None:
    assert gzip.decompress(b"".join(map(gzip_member, PIECES))) == b"".join(PIECES)
    assert gzip_member(b"same") == gzip_member(b"same")


@pytest.mark.skipif(shutil.which("xz") is None, reason="xz not installed")
def test_xz_tool_accepts_the_stream(tmp_path: Path) -> None:
    path = tmp_path / "Packages.xz"
    path.write_bytes(xz_stream([xz_block(piece) for piece in PIECES]))
    subprocess.run(["xz", "--test", str(path)], check=True)


def test_segment_count_grows_in_powers_of_two() -> None:
    assert segment_count(0) == 1
    assert segment_count(SEGMENT_PACKAGES) == 1
    assert segment_count(SEGMENT_PACKAGES + 1) == 2
    assert segment_count(10_000) == 128
    assert segment_count(10**9) == MAX_SEGMENTS


def test_adding_a_package_changes_only_its_segment() -> None:
    names = [f"pool/main/p/p{i}/p{i}_1.0_amd64.deb" for i in range(300)]
    before = segments(names)
    after = segments([*names, "pool/main/n/new/new_1.0_amd64.deb"])
    changed = [group for group in after if group not in before]
    assert len(changed) == 1 and "pool/main/n/new/new_1.0_amd64.deb" in changed[0]
    assert all(group == sorted(group) for group in after)


def test_segment_key_depends_on_format_and_names() -> None:
    assert segment_key("f1", ["a", "b"]) != segment_key("f1", ["a"])
    assert segment_key("f1", ["a"]) != segment_key("f2", ["a"])
