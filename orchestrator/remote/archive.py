"""A strict reader for tar archives that come from hosts the orchestrator does not trust.

Build hosts send their artifacts as one tar.gz; repo servers send their tree as one tar.
Neither may write outside the directory the archive is unpacked into, nor fill the disk or
the memory, whatever the archive holds. ``tarfile``'s own ``filter="data"`` is not enough:
on Python 3.11.7 a chain of symlinks longer than PATH_MAX followed by a hard link escapes
it (CVE-2025-4517). So nothing here relies on it:

- only regular files and directories are written (hard links only where the caller allows
  them, and then only to a file this same archive wrote before); symlinks, devices, FIFOs
  and anything else are refused;
- names must be relative, without ``..``, empty or control characters, each component at
  most 255 bytes and the whole at most :data:`MAX_NAME_BYTES`; a name may appear once;
- files are created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` in a directory this reader makes
  fresh, so no path it writes can lead anywhere else;
- the archive's compressed size, the bytes it expands to, the number of members and the
  total size of the files are counted while reading, and the first one over its limit
  stops the reading (a gzip bomb or a huge pax header never reaches memory or disk);
- the stream is read once, front to back (``tarfile``'s stream mode): no seeking, so no
  member can send the reader back into a loop.

Whatever goes wrong, the destination directory is removed before :class:`ArchiveError` is
raised: a refused archive leaves nothing behind.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from orchestrator.errors import ArchiveError

MAX_NAME_BYTES = 1024
MAX_COMPONENT_BYTES = 255
_CHUNK = 1 << 20
# What tar adds around each member at most (header, pax records, padding), and once.
_OVERHEAD_PER_MEMBER = 8192
_OVERHEAD = 1 << 20
_KINDS = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


@dataclass(frozen=True)
class ArchiveLimits:
    """How much an archive may hold: packed bytes (of a compressed one), file bytes, members."""

    packed_bytes: int
    unpacked_bytes: int
    files: int

    @property
    def stream_bytes(self) -> int:
        """Bytes the tar stream may expand to: the files plus tar's own headers."""
        return self.unpacked_bytes + self.files * _OVERHEAD_PER_MEMBER + _OVERHEAD


class CountedReader(io.RawIOBase):
    """A read-only stream that raises ArchiveError(``message``) past ``limit`` bytes in all."""

    def __init__(self, stream: IO[bytes], limit: int, message: str) -> None:
        super().__init__()
        self._stream = stream
        self._left = limit
        self._message = message
        self.position = 0

    def readable(self) -> bool:
        """Always: this is a reader."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer``; ArchiveError once the bytes read in all pass the limit."""
        # One byte more than allowed is enough to know the limit was passed.
        data = self._stream.read(min(len(buffer), self._left + 1))
        self._left -= len(data)
        if self._left < 0:
            raise ArchiveError(self._message)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


def _kind(member: tarfile.TarInfo) -> str:
    return _KINDS.get(member.type, f"of tar type {member.type!r}")


def checked_name(name: str) -> str:
    """``name`` without a leading ``./``; ArchiveError unless it is a safe relative path."""
    shown = repr(name[:80] + ("..." if len(name) > 80 else ""))
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise ArchiveError(f"a member has a name longer than {MAX_NAME_BYTES} bytes: {shown}")
    if name.startswith("/"):
        raise ArchiveError(f"member {shown} has an absolute name")
    while name.startswith("./"):
        name = name[2:]
    parts = name.rstrip("/").split("/")
    if name in ("", ".", "./"):
        return ""
    if any(ord(char) < 0x20 or ord(char) == 0x7F or char == "\\" for char in name):
        raise ArchiveError(f"member {shown} has a control character or backslash in its name")
    if ".." in parts:
        raise ArchiveError(f"member {shown} has a '..' in its name")
    if any(part in ("", ".") for part in parts):
        raise ArchiveError(f"member {shown} has an empty or '.' component in its name")
    if any(len(part.encode("utf-8", "surrogateescape")) > MAX_COMPONENT_BYTES for part in parts):
        raise ArchiveError(f"member {shown} has a name longer than {MAX_COMPONENT_BYTES} bytes")
    return "/".join(parts)


class _Writer:
    """Writes checked members under a fresh directory, never through anything it did not make."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self.files: dict[str, Path] = {}
        self._directories: set[str] = {""}

    def directory(self, name: str) -> Path:
        path = self._root
        so_far = ""
        for part in name.split("/") if name else ():
            so_far = f"{so_far}/{part}" if so_far else part
            path = path / part
            if so_far in self._directories:
                continue
            if so_far in self.files:
                raise ArchiveError(f"member {so_far} is both a file and a directory")
            os.mkdir(path, 0o755)
            self._directories.add(so_far)
        return path

    def _parent(self, name: str) -> Path:
        if name in self.files or name in self._directories:
            raise ArchiveError(f"member {name} appears twice")
        parent, _, _ = name.rpartition("/")
        return self.directory(parent)

    def file(self, name: str, source: IO[bytes], size: int) -> None:
        path = self._parent(name) / name.rpartition("/")[2]
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(path, flags, 0o644), "wb") as sink:
            left = size
            while left:
                chunk = source.read(min(_CHUNK, left))
                if not chunk:
                    raise ArchiveError(f"member {name} ends before its {size} bytes")
                sink.write(chunk)
                left -= len(chunk)
        self.files[name] = path

    def link(self, name: str, target: str) -> None:
        source = self.files.get(target)
        if source is None:
            raise ArchiveError(
                f"{name} is a hard link to {target!r}, which is not a file before it"
            )
        path = self._parent(name) / name.rpartition("/")[2]
        # link() never follows a symlink at the new name and fails if it exists.
        os.link(source, path, follow_symlinks=False)
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise ArchiveError(f"{name} does not link to a regular file")
        self.files[name] = path


def extract(
    stream: IO[bytes],
    destination: Path,
    limits: ArchiveLimits,
    *,
    compressed: bool,
    hard_links: bool = False,
    wanted: Callable[[str], bool] = lambda _name: True,
) -> dict[str, Path]:
    """Unpack the tar (``compressed``: tar.gz) read from ``stream`` into a new ``destination``.

    Returns the written files by archive name. Members whose name ``wanted`` refuses are
    read and counted but not written. ``hard_links`` lets a member be a hard link to a
    file written earlier from the same archive (a repo server's by-hash copies); otherwise
    a link is refused like any other non-regular member. ArchiveError says which member or
    limit made the archive unacceptable; ``destination`` is then gone.
    """
    destination.mkdir(mode=0o700)
    try:
        try:
            return _extract(stream, destination, limits, compressed, hard_links, wanted)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise ArchiveError(f"the archive is unreadable: {error}") from None
        except OSError as error:
            raise ArchiveError(f"cannot write what the archive holds: {error}") from None
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise


def _extract(
    stream: IO[bytes],
    destination: Path,
    limits: ArchiveLimits,
    compressed: bool,
    hard_links: bool,
    wanted: Callable[[str], bool],
) -> dict[str, Path]:
    raw = stream
    if compressed:
        packed = CountedReader(
            stream, limits.packed_bytes, f"the bundle is larger than {limits.packed_bytes} bytes"
        )
        raw = cast(IO[bytes], gzip.GzipFile(fileobj=cast(IO[bytes], packed), mode="rb"))
    data = CountedReader(
        raw,
        limits.stream_bytes,
        f"the archive expands past its unpacked size limit of {limits.unpacked_bytes} bytes",
    )
    writer = _Writer(destination)
    members = 0
    unpacked = 0
    with tarfile.open(fileobj=cast(IO[bytes], data), mode="r|") as archive:
        for member in archive:
            members += 1
            if members > limits.files:
                raise ArchiveError(f"the archive holds more than {limits.files} files")
            name = checked_name(member.name)
            if member.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                unpacked += member.size
                if unpacked > limits.unpacked_bytes:
                    raise ArchiveError(
                        f"the archive's files pass its unpacked size limit of "
                        f"{limits.unpacked_bytes} bytes"
                    )
                if not name:
                    raise ArchiveError("a member is a file without a name")
                if wanted(name):
                    source = archive.extractfile(member)
                    assert source is not None  # a regular member always has a file object
                    writer.file(name, source, member.size)
            elif member.type == tarfile.DIRTYPE:
                if wanted(name) or not name:
                    writer.directory(name)
            elif member.type == tarfile.LNKTYPE and hard_links and name:
                target = checked_name(member.linkname)
                if wanted(name):
                    writer.link(name, target)
            else:
                raise ArchiveError(f"{name or '.'} is {_kind(member)}, not a regular file")
    return writer.files
