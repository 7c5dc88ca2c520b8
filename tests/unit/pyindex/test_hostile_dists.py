"""Distributions built to hurt the reader, or to make twine upload another identity."""

import gzip
import io
import re
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from orchestrator.pyindex import dists
from orchestrator.pyindex.dists import DistributionError, read_distribution

MiB = 1 << 20
WHEEL = "hello-1.2.3-py3-none-any.whl"


def metadata(name: str = "hello", version: str = "1.2.3", header: bool = True) -> bytes:
    first = "Metadata-Version: 2.1\n" if header else ""
    return f"{first}Name: {name}\nVersion: {version}\n\n".encode()


def wheel(directory: Path, members: dict[str, bytes], name: str = WHEEL) -> Path:
    path = directory / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def sdist(directory: Path, members: list[tuple[str, bytes | None]]) -> Path:
    """An sdist of these members: bytes for a file, None for a directory."""
    path = directory / "hello-1.2.3.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


def _header(name: bytes, kind: bytes, size: int) -> bytes:
    block = bytearray(512)
    block[0 : len(name)] = name
    block[100:108] = b"0000644\0"
    block[108:116] = block[116:124] = b"0000000\0"
    block[124:136] = b"%011o\0" % size
    block[136:148] = b"00000000000\0"
    block[156:157] = kind
    block[257:263] = b"ustar\0"
    block[263:265] = b"00"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


@pytest.mark.parametrize("kind", [b"x", b"L"], ids=["pax", "gnu-longname"])
def test_a_header_claiming_gigabytes_is_refused_before_it_is_read(
    tmp_path: Path, kind: bytes
) -> None:
    # The header says 8 GiB; 64 MiB of zeros follow (64 KiB gzipped): tarfile would read
    # all of them into one bytes object, sized by the header, before any member check.
    path = tmp_path / "hello-1.2.3.tar.gz"
    with gzip.open(path, "wb") as out:
        out.write(_header(b"././@PaxHeader", kind, 8 << 30))
        for _ in range(64):
            out.write(bytes(MiB))
    tracemalloc.start()
    try:
        with pytest.raises(DistributionError, match="at once"):
            read_distribution(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB


def test_a_distribution_file_past_the_size_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = wheel(tmp_path, {"hello-1.2.3.dist-info/METADATA": metadata()})
    monkeypatch.setattr(dists, "MAX_FILE_BYTES", 100)
    with pytest.raises(DistributionError, match="over 100 bytes"):
        read_distribution(path)


def _never(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("zipfile.ZipFile parsed a central directory it should have refused")


def test_a_wheel_with_too_many_entries_is_refused_before_zipfile_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = {f"hello/{n}.py": b"" for n in range(5)}
    path = wheel(tmp_path, {"hello-1.2.3.dist-info/METADATA": metadata(), **members})
    monkeypatch.setattr(dists, "MAX_MEMBERS", 3)
    monkeypatch.setattr(zipfile, "ZipFile", _never)
    with pytest.raises(DistributionError, match="more than 3 members"):
        read_distribution(path)


def test_a_wheel_whose_central_directory_is_too_big_is_refused_before_zipfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # zipfile reads entries for as many bytes as the directory has, whatever the count says.
    path = wheel(tmp_path, {"hello-1.2.3.dist-info/METADATA": metadata(), "x" * 200: b""})
    monkeypatch.setattr(dists, "MAX_CENTRAL_DIRECTORY_BYTES", 200)
    monkeypatch.setattr(zipfile, "ZipFile", _never)
    with pytest.raises(DistributionError, match="central directory"):
        read_distribution(path)


def test_a_zip64_entry_count_is_read_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / WHEEL
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello-1.2.3.dist-info/METADATA", metadata())
        for n in range(5):
            archive.writestr(f"hello/{n}.py", b"")
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = b"\xff\xff\xff\xff"
    # A ZIP64 end record and its locator, just before the classic end record.
    record = (
        b"PK\x06\x06" + (44).to_bytes(8, "little") + bytes(4) + bytes(8)
        + (6).to_bytes(8, "little") + (6).to_bytes(8, "little")
        + int.from_bytes(data[end + 12 : end + 16], "little").to_bytes(8, "little")
        + int.from_bytes(data[end + 16 : end + 20], "little").to_bytes(8, "little")
    )  # fmt: skip
    locator = b"PK\x06\x07" + bytes(4) + end.to_bytes(8, "little") + (1).to_bytes(4, "little")
    data[end:end] = record + locator
    path.write_bytes(bytes(data))
    monkeypatch.setattr(dists, "MAX_MEMBERS", 3)
    monkeypatch.setattr(zipfile, "ZipFile", _never)
    with pytest.raises(DistributionError, match="more than 3 members"):
        read_distribution(path)


@pytest.mark.parametrize(
    "extra",
    ["METADATA", "hello/METADATA.txt", "hello-1.2.3.dist-info/METADATA.bak"],
)
def test_a_wheel_with_another_metadata_twine_could_read_is_refused(
    tmp_path: Path, extra: str
) -> None:
    # twine reads the shortest path containing "METADATA" that has a Metadata-Version.
    path = wheel(
        tmp_path,
        {"hello-1.2.3.dist-info/METADATA": metadata(), extra: metadata("other", "9.9")},
    )
    with pytest.raises(DistributionError, match="METADATA"):
        read_distribution(path)


def test_a_wheel_whose_dist_info_is_not_its_file_name_is_refused(tmp_path: Path) -> None:
    path = wheel(tmp_path, {"other-1.2.3.dist-info/METADATA": metadata()})
    with pytest.raises(DistributionError, match=re.escape("hello-1.2.3.dist-info")):
        read_distribution(path)
    renamed = tmp_path / "r"
    renamed.mkdir()
    normalised = wheel(
        renamed,
        {"Hello_World-1.2.3.dist-info/METADATA": metadata("Hello.World")},
        "hello_world-1.2.3-py3-none-any.whl",
    )
    assert read_distribution(normalised).name == "Hello.World"


def test_metadata_without_a_metadata_version_is_refused(tmp_path: Path) -> None:
    path = wheel(tmp_path, {"hello-1.2.3.dist-info/METADATA": metadata(header=False)})
    with pytest.raises(DistributionError, match="Metadata-Version"):
        read_distribution(path)


def test_an_sdist_where_twine_would_read_another_pkg_info_is_refused(tmp_path: Path) -> None:
    # twine reads {commonpath of all members}/PKG-INFO: here hello-1.2.3/PKG-INFO/PKG-INFO.
    path = sdist(
        tmp_path,
        [
            ("hello-1.2.3/PKG-INFO", metadata()),
            ("hello-1.2.3/PKG-INFO/PKG-INFO", metadata("other", "9.9")),
        ],
    )
    with pytest.raises(DistributionError, match="top-level directory"):
        read_distribution(path)


def test_an_sdist_with_two_pkg_info_is_refused(tmp_path: Path) -> None:
    path = sdist(
        tmp_path,
        [("hello-1.2.3/PKG-INFO", metadata("other", "9.9")), ("hello-1.2.3/PKG-INFO", metadata())],
    )
    with pytest.raises(DistributionError, match="twice"):
        read_distribution(path)


def test_a_pkg_info_directory_is_refused(tmp_path: Path) -> None:
    path = sdist(tmp_path, [("hello-1.2.3", None), ("hello-1.2.3/PKG-INFO", None)])
    with pytest.raises(DistributionError, match="not a regular file"):
        read_distribution(path)


def _patched_wheel(tmp_path: Path, flags: int = 0, method: int | None = None) -> Path:
    path = wheel(tmp_path, {"hello-1.2.3.dist-info/METADATA": metadata()})
    data = bytearray(path.read_bytes())
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 6] |= flags
    data[central + 8] |= flags
    if method is not None:
        data[local + 8 : local + 10] = data[central + 10 : central + 12] = method.to_bytes(
            2, "little"
        )
    path.write_bytes(bytes(data))
    return path


def _corrupt_deflate(tmp_path: Path) -> Path:
    path = tmp_path / WHEEL
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("hello-1.2.3.dist-info/METADATA", metadata() * 50)
    data = bytearray(path.read_bytes())
    start = data.find(b"PK\x03\x04") + 30 + len("hello-1.2.3.dist-info/METADATA")
    data[start : start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    return path


def _bad_utf8_name(tmp_path: Path) -> Path:
    path = wheel(tmp_path, {"hello-1.2.3.dist-info/METADATA": metadata(), "hello/\u00e9": b""})
    data = path.read_bytes().replace("\u00e9".encode(), b"\xff\xfe")
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp: _patched_wheel(tmp, flags=0x1),  # encrypted: RuntimeError
        lambda tmp: _patched_wheel(tmp, method=99),  # NotImplementedError
        _corrupt_deflate,  # zlib.error
        _bad_utf8_name,  # UnicodeDecodeError
    ],
    ids=["encrypted", "compression", "zlib", "utf8"],
)
def test_unreadable_members_are_a_one_line_distribution_error(tmp_path: Path, make: object) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(DistributionError) as refused:
        read_distribution(path)
    assert "\n" not in str(refused.value)


def test_a_truncated_sdist_is_a_distribution_error(tmp_path: Path) -> None:
    path = sdist(tmp_path, [("hello-1.2.3/PKG-INFO", metadata()), ("hello-1.2.3/z", bytes(MiB))])
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DistributionError, match=re.escape("not a readable archive")):
        read_distribution(path)


def test_a_good_sdist_is_read_through_the_bounded_stream(tmp_path: Path) -> None:
    path = sdist(
        tmp_path,
        [("hello-1.2.3", None), ("hello-1.2.3/PKG-INFO", metadata()), ("hello-1.2.3/a", b"x")],
    )
    assert read_distribution(path).version == "1.2.3"
