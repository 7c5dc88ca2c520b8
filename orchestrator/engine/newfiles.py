"""Creating files that must not exist yet: never over another file, never through a link.

A file written here belongs to the user from then on (``relorch init``), so nothing that
is already there may be replaced, not even by a race. Each file is written in full under
a temporary name in its directory, then hard-linked to its own name, which fails if
anything (a file, a symbolic link) holds that name by then; readers never see half a
file. Directories are entered one component at a time with ``O_NOFOLLOW``, so a symbolic
link planted on the way leads nowhere.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from orchestrator.errors import UsageError

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def write_new_files(root: Path, files: Mapping[str, str]) -> None:
    """Write every ``files`` entry (a relative path and its text) under ``root``, or none.

    UsageError naming each path that exists (or has a parent that is not a directory)
    before anything is written; a file that appears meanwhile makes the ones already
    written, and the directories made for them, go again.
    """
    paths = {_relative(name): text for name, text in files.items()}
    problems = [problem for path in paths if (problem := _obstacle(root, path))]
    if problems:
        raise UsageError(f"{root}: {'; '.join(problems)}; nothing written, nothing replaced")
    try:
        with _Creation(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)) as creation:
            for path, text in paths.items():
                creation.write(path, text.encode("utf-8"))
    except OSError as error:
        raise UsageError(f"{root}: cannot write there: {error.strerror}") from None


def _relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    # PurePosixPath drops "." and empty components; ".." it keeps.
    if path.is_absolute() or not path.parts or ".." in path.parts:
        raise ValueError(f"{name!r} is not a plain relative path")
    return path


def _obstacle(root: Path, path: PurePosixPath) -> str | None:
    """What stands where ``path`` would be written: a file there, or a parent that is no directory."""
    for depth in range(1, len(path.parts) + 1):
        here = PurePosixPath(*path.parts[:depth])
        try:
            mode = (root / here).lstat().st_mode
        except FileNotFoundError:
            return None
        if depth == len(path.parts):
            return f"{here} exists"
        if stat.S_ISLNK(mode):
            return f"{here} is a symbolic link, not a directory"
        if not stat.S_ISDIR(mode):
            return f"{here} is not a directory"
    return None


@dataclass
class _Creation:
    """The files and directories one call made, removed again if the call fails."""

    root: int
    # Closed at the end; the created entries are named relative to them.
    descriptors: list[int] = field(default_factory=list)
    created_directories: list[tuple[int, str]] = field(default_factory=list)
    created_files: list[tuple[int, str, int]] = field(default_factory=list)

    def __enter__(self) -> _Creation:
        self.descriptors.append(self.root)
        return self

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        if error is not None:
            self._undo()
        for descriptor in self.descriptors:
            os.close(descriptor)

    def write(self, path: PurePosixPath, data: bytes) -> None:
        """Create ``path`` holding ``data``; UsageError if something took its name meanwhile."""
        directory = self._directory(path.parts[:-1])
        name = path.name
        temporary = f".{name}.{secrets.token_hex(6)}.tmp"
        descriptor = os.open(temporary, NEW_FILE_FLAGS, 0o644, dir_fd=directory)
        try:
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
            inode = os.stat(temporary, dir_fd=directory, follow_symlinks=False).st_ino
            # link(2) never replaces: the one atomic create-if-absent for a whole file.
            os.link(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
        except FileExistsError:
            raise UsageError(
                f"{path} appeared while it was being written; nothing written"
            ) from None
        finally:
            os.unlink(temporary, dir_fd=directory)
        self.created_files.append((directory, name, inode))

    def _directory(self, parts: tuple[str, ...]) -> int:
        directory = self.root
        for part in parts:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=directory)
                self.created_directories.append((directory, part))
            try:
                directory = os.open(part, DIRECTORY_FLAGS, dir_fd=directory)
            except OSError as error:
                if error.errno not in (errno.ELOOP, errno.ENOTDIR):  # a symbolic link, a file
                    raise
                raise UsageError(
                    f"{part} became something other than a directory while files were "
                    "written into it; nothing written"
                ) from None
            self.descriptors.append(directory)
        return directory

    def _undo(self) -> None:
        for directory, name, inode in reversed(self.created_files):
            # Only the file this call linked: whatever replaced it since is not ours.
            with contextlib.suppress(OSError):
                if os.stat(name, dir_fd=directory, follow_symlinks=False).st_ino == inode:
                    os.unlink(name, dir_fd=directory)
        for directory, name in reversed(self.created_directories):
            with contextlib.suppress(OSError):  # not empty: something else is in it now
                os.rmdir(name, dir_fd=directory)
