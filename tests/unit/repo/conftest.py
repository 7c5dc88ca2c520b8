"""Fixtures for the repository unit tests: tiny .deb files written in memory."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest


def _ar_member(name: str, data: bytes) -> bytes:
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
    return header + data + (b"\n" if len(data) % 2 else b"")


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return gzip.compress(buffer.getvalue(), mtime=0)


def deb_bytes(control: str, payload: bytes = b"x") -> bytes:
    """A minimal .deb with the given control text."""
    return b"!<arch>\n" + b"".join(
        (
            _ar_member("debian-binary", b"2.0\n"),
            _ar_member("control.tar.gz", _tar_gz({"./control": control.encode()})),
            _ar_member("data.tar.gz", _tar_gz({"./payload": payload})),
        )
    )


@pytest.fixture
def make_deb(tmp_path: Path) -> Callable[..., Path]:
    """Write a .deb for name/version/arch (extra control lines optional) and return its path."""

    def make(
        name: str, version: str, arch: str = "amd64", extra: str = "", payload: bytes = b"x"
    ) -> Path:
        control = (
            f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
            f"Maintainer: T <t@example.org>\n{extra}Description: test {name}\n more text\n"
        )
        path = tmp_path / "in" / f"{name}_{version}_{arch}.deb"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(deb_bytes(control, payload))
        return path

    return make
