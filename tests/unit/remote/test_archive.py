"""The strict reader of archives from hosts: only files and directories, only inside, bounded."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from orchestrator.errors import ArchiveError
from orchestrator.remote.archive import ArchiveLimits, checked_name, extract
from tests.hostile.bundle import craft

LIMITS = ArchiveLimits(packed_bytes=1 << 30, unpacked_bytes=1 << 30, files=1000)
MiB = 1 << 20


def tree(root: Path) -> dict[str, str]:
    """Every entry under ``root`` with its kind and content digest (symlinks not followed)."""
    found = {}
    for directory, names, files in os.walk(root):
        for name in names + files:
            path = Path(directory, name)
            if path.is_symlink():
                found[str(path.relative_to(root))] = "link"
            elif path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[str(path.relative_to(root))] = digest
            else:
                found[str(path.relative_to(root))] = "dir"
    return found


def archive(members: list[tuple[tarfile.TarInfo, bytes | None]], compress: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if compress else "w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def entry(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


def test_files_and_directories_are_written(tmp_path: Path) -> None:
    data = archive(
        [entry("dist", tarfile.DIRTYPE), file("dist/a.deb", b"a" * 3), file("./SUMS", b"s")]
    )
    written = extract(io.BytesIO(data), tmp_path / "out", LIMITS, compressed=True)
    assert sorted(written) == ["SUMS", "dist/a.deb"]
    assert (tmp_path / "out" / "dist" / "a.deb").read_bytes() == b"aaa"
    assert (tmp_path / "out" / "dist" / "a.deb").stat().st_mode & 0o777 == 0o644


def test_cve_2025_4517_writes_nothing_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("original\n")
    craft("cve", str(tmp_path / "evil.tgz"), str(outside / "victim"))
    before = tree(tmp_path)
    with pytest.raises(ArchiveError, match="is a symbolic link"):
        extract((tmp_path / "evil.tgz").open("rb"), tmp_path / "out", LIMITS, compressed=True)
    assert tree(tmp_path) == before
    assert (outside / "victim").read_text() == "original\n"


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("symlink", "dist/hello.deb is a symbolic link"),
        ("hardlink", "dist/hello.deb is a hard link"),
        ("device", "dist/hello.deb is a block device"),
        ("fifo", "dist/hello.deb is a FIFO"),
        ("duplicate", "SHA256SUMS appears twice"),
        ("longname", "name longer than 1024 bytes"),
    ],
)
def test_unsafe_members_are_refused(tmp_path: Path, mode: str, message: str) -> None:
    craft(mode, str(tmp_path / "evil.tgz"))
    with pytest.raises(ArchiveError, match=message):
        extract((tmp_path / "evil.tgz").open("rb"), tmp_path / "out", LIMITS, compressed=True)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("/etc/passwd", "absolute name"),
        ("../../etc/passwd", "'..'"),
        ("dist/../../x", "'..'"),
        ("dist//x", "empty or '.' component"),
        ("dist/./x", "empty or '.' component"),
        ("dist/a\nb", "control character"),
        ("dist\\x", "backslash"),
        ("d/" + "x" * 256, "longer than 255 bytes"),
    ],
)
def test_unsafe_names_are_refused(name: str, message: str) -> None:
    with pytest.raises(ArchiveError, match=message):
        checked_name(name)


def test_names_lose_a_leading_dot_slash() -> None:
    assert checked_name("./deb/pool/x.deb") == "deb/pool/x.deb"
    assert checked_name("./") == "" and checked_name("dist/") == "dist"


def test_a_file_count_past_the_limit_stops_the_reading(tmp_path: Path) -> None:
    craft("many", str(tmp_path / "many.tgz"), "50")
    limits = ArchiveLimits(packed_bytes=MiB, unpacked_bytes=MiB, files=20)
    with pytest.raises(ArchiveError, match="more than 20 files"):
        extract((tmp_path / "many.tgz").open("rb"), tmp_path / "out", limits, compressed=True)
    assert not (tmp_path / "out").exists()


def test_a_gzip_bomb_stops_at_the_unpacked_limit(tmp_path: Path) -> None:
    craft("bomb", str(tmp_path / "bomb.tgz"), str(64 * MiB))
    assert (tmp_path / "bomb.tgz").stat().st_size < MiB
    limits = ArchiveLimits(packed_bytes=MiB, unpacked_bytes=4 * MiB, files=10)
    with pytest.raises(ArchiveError, match="unpacked size limit of 4194304 bytes"):
        extract((tmp_path / "bomb.tgz").open("rb"), tmp_path / "out", limits, compressed=True)
    assert not (tmp_path / "out").exists()


def test_a_pax_header_bomb_never_reaches_memory(tmp_path: Path) -> None:
    craft("pax", str(tmp_path / "pax.tgz"), str(64 * MiB))
    limits = ArchiveLimits(packed_bytes=MiB, unpacked_bytes=4 * MiB, files=10)
    with pytest.raises(ArchiveError, match="expands past its unpacked size limit"):
        extract((tmp_path / "pax.tgz").open("rb"), tmp_path / "out", limits, compressed=True)


def test_a_packed_size_past_the_limit_stops_the_reading(tmp_path: Path) -> None:
    data = archive([file("dist/random.deb", os.urandom(2 * MiB))])
    limits = ArchiveLimits(packed_bytes=MiB, unpacked_bytes=8 * MiB, files=10)
    with pytest.raises(ArchiveError, match="bundle is larger than 1048576 bytes"):
        extract(io.BytesIO(data), tmp_path / "out", limits, compressed=True)


def test_garbage_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="unreadable"):
        extract(io.BytesIO(gzip.compress(b"x" * 4000)), tmp_path / "out", LIMITS, compressed=True)
    with pytest.raises(ArchiveError, match="unreadable"):
        extract(io.BytesIO(b"not gzip"), tmp_path / "out2", LIMITS, compressed=True)


def test_the_destination_must_be_new(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError):
        extract(io.BytesIO(archive([])), tmp_path / "out", LIMITS, compressed=True)


def test_hard_links_only_to_files_the_archive_wrote(tmp_path: Path) -> None:
    good = archive(
        [file("deb/Packages", b"p"), entry("deb/by-hash/x", tarfile.LNKTYPE, "./deb/Packages")],
        compress=False,
    )
    written = extract(
        io.BytesIO(good), tmp_path / "good", LIMITS, compressed=False, hard_links=True
    )
    assert written["deb/by-hash/x"].stat().st_ino == written["deb/Packages"].stat().st_ino

    outside = archive([entry("deb/passwd", tarfile.LNKTYPE, "/etc/passwd")], compress=False)
    with pytest.raises(ArchiveError, match="absolute name"):
        extract(io.BytesIO(outside), tmp_path / "bad", LIMITS, compressed=False, hard_links=True)
    missing = archive([entry("deb/x", tarfile.LNKTYPE, "deb/later")], compress=False)
    with pytest.raises(ArchiveError, match="not a file before it"):
        extract(io.BytesIO(missing), tmp_path / "bad", LIMITS, compressed=False, hard_links=True)


def test_unwanted_members_are_read_but_not_written(tmp_path: Path) -> None:
    data = archive([file("keep/a", b"a"), file("skip/b", b"b")], compress=False)
    written = extract(
        io.BytesIO(data),
        tmp_path / "out",
        LIMITS,
        compressed=False,
        wanted=lambda name: name.startswith("keep"),
    )
    assert list(written) == ["keep/a"] and not (tmp_path / "out" / "skip").exists()


def test_a_file_cannot_become_a_directory(tmp_path: Path) -> None:
    data = archive([file("dist", b"x"), file("dist/a", b"y")])
    with pytest.raises(ArchiveError, match="both a file and a directory"):
        extract(io.BytesIO(data), tmp_path / "out", LIMITS, compressed=True)
