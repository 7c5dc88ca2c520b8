import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from orchestrator.artifacts import (
    parse_checksums,
    unpack_bundle,
    upstream_version,
    verify_checksums,
)
from orchestrator.errors import BuildError


def bundle(path: Path, files: dict[str, bytes], sums: str) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in {**files, "SHA256SUMS": sums.encode()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_good_bundle_verifies(tmp_path: Path) -> None:
    files = {"dist/a.deb": b"a", "dist/b.whl": b"b"}
    sums = "".join(f"{digest(d)}  {n}\n" for n, d in files.items())
    listed = unpack_bundle(bundle(tmp_path / "b.tgz", files, sums), tmp_path / "out", "t")
    verified = verify_checksums(tmp_path / "out", listed, "t")
    assert [p.name for p, _ in verified] == ["a.deb", "b.whl"]


def test_unlisted_and_missing_files_fail(tmp_path: Path) -> None:
    files = {"dist/a.deb": b"a", "dist/extra": b"x"}
    sums = f"{digest(b'a')}  dist/a.deb\n"
    listed = unpack_bundle(bundle(tmp_path / "b.tgz", files, sums), tmp_path / "out", "t")
    with pytest.raises(BuildError, match="t: dist/extra arrived but is not in SHA256SUMS"):
        verify_checksums(tmp_path / "out", listed, "t")
    with pytest.raises(BuildError, match="dist/gone is listed in SHA256SUMS but missing"):
        verify_checksums(
            tmp_path / "out", {**listed, "dist/extra": digest(b"x"), "dist/gone": "0" * 64}, "t"
        )


def test_checksum_lines_must_be_sane() -> None:
    with pytest.raises(BuildError, match="line 1 is malformed"):
        parse_checksums(f"{'a' * 64}  ../../etc/passwd\n", "t")
    with pytest.raises(BuildError, match="line 2 is malformed"):
        parse_checksums(f"{'a' * 64}  ok\nnonsense\n", "t")


def test_an_archive_escaping_its_directory_is_refused(tmp_path: Path) -> None:
    path = bundle(tmp_path / "evil.tgz", {"../evil": b"x"}, "")
    with pytest.raises(BuildError, match="unreadable"):
        unpack_bundle(path, tmp_path / "out", "t")


@pytest.mark.parametrize(
    ("version", "upstream"),
    [
        ("1.2.3-1", "1.2.3"),
        ("1:1.2.3-1", "1.2.3"),
        ("1.3.0~rc.1-1", "1.3.0~rc.1"),
        ("1.2.3", "1.2.3"),
    ],
)
def test_upstream_version(version: str, upstream: str) -> None:
    assert upstream_version(version) == upstream
