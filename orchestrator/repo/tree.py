"""Changing a repository tree so that it is either wholly old or wholly new.

New directories are built beside the ones they replace and exchanged in with one
``renameat2(RENAME_EXCHANGE)`` each, after everything was built and signed; files added in
place (append-only pools) are removed again if anything fails before that point.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from orchestrator.engine.locks import holding_directory_lock, new_details
from orchestrator.errors import RepositoryError
from orchestrator.repo.layout import STATE

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(None, use_errno=True)


def exchange(staged: Path, target: Path) -> None:
    """Put ``staged`` at ``target``; the previous ``target`` (if any) ends up at ``staged``."""
    if not target.exists():
        os.rename(staged, target)
        return
    result = _libc.renameat2(
        _AT_FDCWD, os.fsencode(staged), _AT_FDCWD, os.fsencode(target), _RENAME_EXCHANGE
    )
    if result == 0:
        return
    code = ctypes.get_errno()
    if code not in (errno.EINVAL, errno.ENOSYS):
        raise OSError(code, os.strerror(code), str(target))
    # A filesystem without RENAME_EXCHANGE: two renames leave a window of microseconds.
    aside = staged.with_name(staged.name + ".old")
    os.rename(target, aside)
    os.rename(staged, target)
    os.rename(aside, staged)


class Staging:
    """Directories and files built beside their targets, and files added in place.

    Use as a context manager: leaving it without :meth:`commit` (an error) removes every
    staged directory and file and every file registered with :meth:`added`; files registered
    with :meth:`obsolete` are deleted only after a commit.
    """

    def __init__(self) -> None:
        self._directories: list[tuple[Path, Path]] = []
        self._files: list[tuple[Path, Path]] = []
        self._added: list[Path] = []
        self._obsolete: list[Path] = []
        self._committed = False

    def directory(self, target: Path) -> Path:
        """A new, empty directory beside ``target`` that will replace it on commit."""
        staged = target.with_name(f".{target.name}.new")
        if staged.exists():
            shutil.rmtree(staged)
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.mkdir()
        self._directories.append((staged, target))
        return staged

    def file(self, target: Path, data: bytes) -> bool:
        """Stage ``data`` to replace ``target`` on commit; False if it is already equal."""
        if target.is_file() and target.read_bytes() == data:
            return False
        staged = target.with_name(f".{target.name}.new")
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_bytes(data)
        self._files.append((staged, target))
        return True

    def obsolete(self, path: Path) -> None:
        """Register a file to delete once the new indexes, which no longer name it, are in."""
        self._obsolete.append(path)

    def added(self, path: Path) -> None:
        """Register a file created in place, to be removed if the change fails."""
        self._added.append(path)

    def commit(self) -> None:
        """Swap every staged directory in, then delete the replaced ones."""
        for staged, target in self._directories:
            exchange(staged, target)
        for staged, target in self._files:
            os.replace(staged, target)
        self._committed = True
        for staged, _ in self._directories:
            shutil.rmtree(staged, ignore_errors=True)
        for path in self._obsolete:
            path.unlink(missing_ok=True)

    def __enter__(self) -> Staging:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._committed:
            return
        for staged, _ in self._directories:
            shutil.rmtree(staged, ignore_errors=True)
        for staged, _ in self._files:
            staged.unlink(missing_ok=True)
        for path in self._added:
            path.unlink(missing_ok=True)


TREE_LOCK = "lock"


@contextmanager
def holding_tree_lock(
    repo_dir: Path, *, run_id: str = "-", tag: str = "", wait: float = 0.0
) -> Iterator[None]:
    """Hold the tree's lock (``.state/lock``, a directory naming its holder).

    Two runs never change a tree at once; a holder on this machine whose process is gone
    (a run killed while indexing) is broken at once.
    """
    details = new_details(run_id, tag, datetime.now(UTC))
    with holding_directory_lock(
        repo_dir / STATE / TREE_LOCK,
        details,
        where=f"repository tree {repo_dir}",
        force=f"rm -r {repo_dir / STATE / TREE_LOCK}",
        wait=wait,
        say=lambda _line: None,
        error=RepositoryError,
    ):
        yield
