from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from orchestrator.errors import PublishError, UsageError
from orchestrator.inventory import S3Publish
from orchestrator.publish.pull import extract_tree, pull_tree, ready_tree
from orchestrator.publish.s3 import S3Target


def _archive() -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:

        def add(name: str, data: bytes = b"", **fields: object) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            for key, value in fields.items():
                setattr(info, key, value)
            archive.addfile(info, io.BytesIO(data))

        add("./deb/dists/stable/Release", b"first")
        add("./deb/dists/stable/Release", b"release")
        for _ in range(2):  # archived twice, as a second tar run over one tree would
            add("./deb/dists/stable/by-hash/SHA256/ab", type=tarfile.LNKTYPE,
                linkname="./deb/dists/stable/Release")  # fmt: skip
        add("./.manifest.json", b"{}")
        add("../outside", b"x")
        add("/etc/evil", b"x")
        add("./deb/../../escape", b"x")
        add("./.state/cache", b"x")
        add("./notes.txt", b"x")
        add("./keys/link.asc", type=tarfile.SYMTYPE, linkname="/etc/passwd")
    buffer.seek(0)
    return buffer


def test_only_tree_files_and_their_links_are_extracted(tmp_path: Path) -> None:
    extract_tree(_archive(), tmp_path / "staging")

    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == [
        "staging/.manifest.json",
        "staging/deb/dists/stable/Release",
        "staging/deb/dists/stable/by-hash/SHA256/ab",
    ]
    assert (tmp_path / "staging/deb/dists/stable/by-hash/SHA256/ab").read_bytes() == b"release"
    assert (tmp_path / "staging/deb/dists/stable/Release").read_bytes() == b"release"
    assert not (tmp_path / "staging/keys").exists()


class _Unreachable:
    """An S3 client whose endpoint never answers."""

    def get_object(self, **_: object) -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")


def _bucket() -> S3Target:
    config = S3Publish(
        kind="s3", name="spaces", bucket="packages", endpoint="http://127.0.0.1:9",
        url="http://127.0.0.1:9/packages",
    )  # fmt: skip
    return S3Target(config, _Unreachable())


def test_a_missing_tree_and_an_unreadable_target_stop_a_release(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    with pytest.raises(PublishError, match="is missing and a publish target cannot be read"):
        ready_tree(repo, [_bucket()], report=print)

    (repo / "keys").mkdir(parents=True)
    (repo / "keys" / "demo.asc").write_text("key")
    lines: list[str] = []
    ready_tree(repo, [_bucket()], report=lines.append)
    assert len(lines) == 1 and "publishing checks it" in lines[0]


def test_a_pull_never_writes_into_a_directory_in_use(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".state").mkdir(parents=True)
    with pytest.raises(UsageError, match="is not empty: pull only into a missing or empty"):
        pull_tree(_bucket(), tmp_path / "repo")
    assert [p.name for p in tmp_path.iterdir()] == ["repo"]
