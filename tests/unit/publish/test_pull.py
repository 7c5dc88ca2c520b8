from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from orchestrator.config.inventory import S3Publish
from orchestrator.errors import PublishError, UsageError
from orchestrator.publish.pull import pull_tree, read_served, ready_tree
from orchestrator.publish.s3.target import S3Target
from orchestrator.publish.ssh.target import unpack_tree
from orchestrator.remote.archive import ArchiveLimits

LIMITS = ArchiveLimits(packed_bytes=1 << 20, unpacked_bytes=1 << 20, files=100)


def _archive(*extra: tuple[str, bytes, dict[str, object]]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:

        def add(name: str, data: bytes = b"", **fields: object) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            for key, value in fields.items():
                setattr(info, key, value)
            archive.addfile(info, io.BytesIO(data))

        add("./", type=tarfile.DIRTYPE)
        add("./deb/dists/stable/Release", b"release")
        add("./deb/dists/stable/by-hash/SHA256/ab", type=tarfile.LNKTYPE,
            linkname="./deb/dists/stable/Release")  # fmt: skip
        add("./.manifest.json", b"{}")
        add("./.state/cache", b"x")
        add("./notes.txt", b"x")
        for name, data, fields in extra:
            add(name, data, **fields)
    buffer.seek(0)
    return buffer


def test_only_tree_files_and_their_links_are_extracted(tmp_path: Path) -> None:
    unpack_tree(_archive(), tmp_path / "tree", LIMITS, "server")

    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == [
        "tree/.manifest.json",
        "tree/deb/dists/stable/Release",
        "tree/deb/dists/stable/by-hash/SHA256/ab",
    ]
    by_hash = tmp_path / "tree/deb/dists/stable/by-hash/SHA256/ab"
    assert by_hash.read_bytes() == b"release"
    assert by_hash.stat().st_ino == (tmp_path / "tree/deb/dists/stable/Release").stat().st_ino


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (("../outside", b"x", {}), "'..'"),
        (("/etc/evil", b"x", {}), "absolute name"),
        (("./keys/link.asc", b"", {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}), "symbolic link"),
        (("./deb/dists/stable/Release", b"again", {}), "appears twice"),
        (("./deb/x", b"", {"type": tarfile.LNKTYPE, "linkname": "/etc/passwd"}), "absolute name"),
    ],
)  # fmt: skip
def test_an_unsafe_archive_is_refused_whole(
    tmp_path: Path, member: tuple[str, bytes, dict[str, object]], message: str
) -> None:
    with pytest.raises(PublishError, match=message):
        unpack_tree(_archive(member), tmp_path / "tree", LIMITS, "server")
    assert not (tmp_path / "tree").exists()


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
        ready_tree(repo, read_served([_bucket()]), say=print)

    (repo / "keys").mkdir(parents=True)
    (repo / "keys" / "demo.asc").write_text("key")
    lines: list[str] = []
    ready_tree(repo, read_served([_bucket()]), say=lines.append)
    assert len(lines) == 1 and "publishing checks it" in lines[0]


def test_a_pull_never_writes_into_a_directory_in_use(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".state").mkdir(parents=True)
    with pytest.raises(UsageError, match="is not empty: pull only into a missing or empty"):
        pull_tree(_bucket(), tmp_path / "repo")
    assert [p.name for p in tmp_path.iterdir()] == ["repo"]
