from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.errors import RepositoryError
from orchestrator.repo.packages import (
    RpmPackage,
    parse_control,
    read_deb,
    rpm_header,
    rpm_identity,
)
from orchestrator.repo.rpm import RpmEntry


def test_parse_control_reads_placement_fields() -> None:
    control = parse_control(
        "Package: libfoo1\nVersion: 1:2.0-3\nArchitecture: arm64\nSource: libfoo (2.0-2)\n"
        "Description: short\n long\n"
    )
    assert (control.name, control.version, control.arch, control.source) == (
        "libfoo1",
        "1:2.0-3",
        "arm64",
        "libfoo",
    )
    assert control.fields["Description"] == "short\n long"


def test_parse_control_defaults_source_to_package() -> None:
    assert parse_control("Package: hello\nVersion: 1.0\nArchitecture: all\n").source == "hello"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Package: hello\nArchitecture: amd64\n", "lacks Version"),
        ("Package: Hello\nVersion: 1.0\nArchitecture: amd64\n", "invalid package name"),
        ("Package: hello\nVersion: 1.0 beta\nArchitecture: amd64\n", "invalid version"),
        ("Package: hello\nVersion: 1.0\nArchitecture: AMD64\n", "invalid architecture"),
    ],
)
def test_parse_control_refuses_unusable_fields(text: str, message: str) -> None:
    with pytest.raises(RepositoryError, match=message):
        parse_control(text)


def test_read_deb_returns_control_and_digests(make_deb: Callable[..., Path]) -> None:
    path = make_deb("hello", "1.0-1", "arm64")
    package = read_deb(path)
    assert package.control.name == "hello"
    assert package.digests.size == path.stat().st_size
    assert len(package.digests.sha256) == 64 and len(package.digests.sha512) == 128


def test_read_deb_refuses_a_file_that_is_not_a_deb(tmp_path: Path) -> None:
    path = tmp_path / "broken.deb"
    path.write_bytes(b"this is not an ar archive")
    with pytest.raises(RepositoryError, match=r"is not a valid \.deb"):
        read_deb(path)


def _fake_rpm(signature: bytes, rest: bytes) -> bytes:
    header = b"\x8e\xad\xe8\x01\x00\x00\x00\x00" + struct.pack(">II", 0, len(signature))
    padding = b"\x00" * (-(16 + len(signature)) % 8)
    return b"\xed\xab\xee\xdb" + b"\x00" * 92 + header + signature + padding + rest


def test_rpm_identity_ignores_the_signature_header(tmp_path: Path) -> None:
    unsigned, signed = tmp_path / "a.rpm", tmp_path / "b.rpm"
    unsigned.write_bytes(_fake_rpm(b"sig", b"header and payload"))
    signed.write_bytes(_fake_rpm(b"a longer signature", b"header and payload"))
    other = tmp_path / "c.rpm"
    other.write_bytes(_fake_rpm(b"sig", b"other payload"))
    assert rpm_identity(unsigned) == rpm_identity(signed) != rpm_identity(other)


def test_rpm_identity_refuses_garbage(tmp_path: Path) -> None:
    path = tmp_path / "x.rpm"
    path.write_bytes(b"nope")
    with pytest.raises(RepositoryError, match=r"not a valid \.rpm"):
        rpm_identity(path)


def test_one_rpm_header_serves_the_package_and_the_index_entry() -> None:
    read = SimpleNamespace(name="hello", epoch=None, version="1.2.3", release="1", arch="x86_64")
    header = rpm_header(read)
    assert header == {
        "name": "hello", "epoch": "0", "version": "1.2.3", "release": "1", "arch": "x86_64",
    }  # fmt: skip
    assert rpm_header(SimpleNamespace(**{**vars(read), "epoch": "2"}))["epoch"] == "2"
    package = RpmPackage(path=Path("hello.rpm"), identity="i", **header)
    entry = RpmEntry(href="h", identity="i", primary="", filelists="", other="", **header)
    assert package.evr == "1.2.3-1" and entry.evr == "0:1.2.3-1"
