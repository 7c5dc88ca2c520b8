"""A server's cgroups are walked while they disappear: a stopping server's systemd removes
its own sub-cgroups as the walk goes, and CI once saw the walk end in FileNotFoundError."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.sandbox import servers


def _cgroup_tree(base: Path) -> tuple[Path, Path]:
    """A server cgroup with a live member at its top and a sub-cgroup that will vanish."""
    cgroup = base / "relorch" / "staging-2-abc"
    vanishing = cgroup / "system.slice" / "hello.service"
    vanishing.mkdir(parents=True)
    (cgroup / "cgroup.procs").write_text(f"{os.getpid()}\n")
    (cgroup / "system.slice" / "cgroup.procs").write_text("")
    return cgroup, vanishing


def _vanish_when_scanned(monkeypatch: pytest.MonkeyPatch, victim: Path) -> list[Path]:
    """Make ``victim`` disappear just as the walk opens it, as a dying cgroup does."""
    real_scandir: Callable[..., Any] = os.scandir
    vanished: list[Path] = []

    def scandir(path: Any = ".") -> Any:
        if Path(path) == victim and victim.exists():
            victim.rmdir()
            vanished.append(victim)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return vanished


def test_the_pids_of_a_server_whose_cgroup_vanishes_mid_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cgroup, vanishing = _cgroup_tree(tmp_path)
    monkeypatch.setattr(servers, "_cgroups", lambda directory: [cgroup])
    vanished = _vanish_when_scanned(monkeypatch, vanishing)

    assert servers._pids_of(tmp_path / "server") == [os.getpid()]
    assert vanished == [vanishing]


def test_removing_a_cgroup_that_vanishes_mid_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cgroup, vanishing = _cgroup_tree(tmp_path)
    (cgroup / "cgroup.procs").unlink()
    monkeypatch.setattr(servers, "_cgroups", lambda directory: [cgroup])
    vanished = _vanish_when_scanned(monkeypatch, vanishing)
    # rmdir is what removes a cgroup; in a plain directory, files would keep it.
    monkeypatch.setattr(Path, "rmdir", _rmdir_with_files)

    servers._remove_cgroups(tmp_path / "server")

    assert vanished == [vanishing]
    assert not (tmp_path / "relorch").exists()


def _rmdir_with_files(self: Path) -> None:
    for entry in os.listdir(self):
        if (self / entry).is_file():
            (self / entry).unlink()
    os.rmdir(self)
