"""Minimal .deb files: an ar archive with ``debian-binary`` and ``control.tar.gz``."""

from __future__ import annotations

import io
import tarfile


def minimal_deb(name: str, version: str, arch: str, *, epoch: int | None = None) -> bytes:
    """A .deb that names ``name``, ``[epoch:]version-1`` and ``arch`` and holds nothing."""
    full = f"{epoch}:{version}-1" if epoch is not None else f"{version}-1"
    control = (
        f"Package: {name}\nVersion: {full}\nArchitecture: {arch}\n"
        "Maintainer: Fake <fake@example.org>\nDescription: a package built by a fake host\n"
    ).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("./control")
        info.size = len(control)
        archive.addfile(info, io.BytesIO(control))
    members = [("debian-binary", b"2.0\n"), ("control.tar.gz", buffer.getvalue())]
    out = io.BytesIO()
    out.write(b"!<arch>\n")
    for member, content in members:
        out.write(f"{member:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(content):<10}`\n".encode())
        out.write(content + (b"\n" if len(content) % 2 else b""))
    return out.getvalue()
