from __future__ import annotations

import io
import tarfile
from pathlib import Path

from orchestrator.publish.pull import extract_tree


def _archive() -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:

        def add(name: str, data: bytes = b"", **fields: object) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            for key, value in fields.items():
                setattr(info, key, value)
            archive.addfile(info, io.BytesIO(data))

        add("./deb/dists/stable/Release", b"release")
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
    assert not (tmp_path / "staging/keys").exists()
