"""Files that must not exist yet: all or none, never over a file, never through a link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.engine import newfiles
from orchestrator.engine.newfiles import write_new_files
from orchestrator.errors import UsageError

FILES = {"relorch.yaml": "project: {}\n", ".github/workflows/release.yml": "name: release\n"}


def tree(root: Path) -> dict[str, str]:
    """Every entry under ``root``: a file's text, a link's target, or 'dir'."""
    listed = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            listed[name] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            listed[name] = "dir"
        else:
            listed[name] = path.read_text()
    return listed


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A repository to write into and a directory outside it that must stay untouched."""
    (tmp_path / "repo").mkdir()
    (tmp_path / "outside").mkdir()
    return tmp_path / "repo", tmp_path / "outside"


def test_writes_every_file_and_its_directories(layout: tuple[Path, Path]) -> None:
    repo, _ = layout
    write_new_files(repo, FILES)
    assert tree(repo) == {
        ".github": "dir",
        ".github/workflows": "dir",
        ".github/workflows/release.yml": "name: release\n",
        "relorch.yaml": "project: {}\n",
    }
    assert (repo / "relorch.yaml").stat().st_mode & 0o777 == 0o644 & ~current_umask()


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_an_existing_file_stops_every_write_and_is_named(layout: tuple[Path, Path]) -> None:
    repo, _ = layout
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "release.yml").write_text("mine\n")
    before = tree(repo)
    with pytest.raises(UsageError) as raised:
        write_new_files(repo, FILES)
    assert str(raised.value) == (
        f"{repo}: .github/workflows/release.yml exists; nothing written, nothing replaced"
    )
    assert tree(repo) == before


def test_a_symlink_planted_at_the_name_is_not_followed(layout: tuple[Path, Path]) -> None:
    repo, outside = layout
    (repo / "relorch.yaml").symlink_to(outside / "planted.yaml")
    with pytest.raises(UsageError, match=r"relorch\.yaml exists"):
        write_new_files(repo, {"relorch.yaml": "project: {}\n"})
    assert tree(outside) == {}
    assert tree(repo) == {"relorch.yaml": f"-> {outside / 'planted.yaml'}"}


def test_a_symlinked_parent_directory_is_not_followed(layout: tuple[Path, Path]) -> None:
    repo, outside = layout
    (repo / ".github").symlink_to(outside)
    with pytest.raises(UsageError, match=r"\.github is a symbolic link, not a directory"):
        write_new_files(repo, FILES)
    assert tree(outside) == {}
    assert tree(repo) == {".github": f"-> {outside}"}


def test_a_relative_path_out_of_the_directory_is_a_bug(layout: tuple[Path, Path]) -> None:
    repo, outside = layout
    for name in ("../outside/x", "/etc/x", "a/../../x", ""):
        with pytest.raises(ValueError, match="not a plain relative path"):
            write_new_files(repo, {name: "x"})
    assert tree(outside) == {} and tree(repo) == {}


# Races: something appears between the check and the write.


@pytest.fixture
def unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check finds nothing, as when a file appears right after it."""
    monkeypatch.setattr(newfiles, "_obstacle", lambda root, path: None)


@pytest.mark.usefixtures("unchecked")
def test_a_file_that_appears_meanwhile_is_never_replaced(layout: tuple[Path, Path]) -> None:
    repo, _ = layout
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "release.yml").write_text("theirs\n")
    with pytest.raises(UsageError, match=r"release\.yml appeared while it was being written"):
        write_new_files(repo, FILES)
    # relorch.yaml, written first, went again; their file and their directories stayed.
    assert tree(repo) == {
        ".github": "dir",
        ".github/workflows": "dir",
        ".github/workflows/release.yml": "theirs\n",
    }


@pytest.mark.usefixtures("unchecked")
def test_a_symlink_that_appears_meanwhile_is_never_followed(layout: tuple[Path, Path]) -> None:
    repo, outside = layout
    (repo / "relorch.yaml").symlink_to(outside / "planted.yaml")
    with pytest.raises(UsageError, match=r"relorch\.yaml appeared while it was being written"):
        write_new_files(repo, {"relorch.yaml": "project: {}\n"})
    assert tree(outside) == {}
    assert tree(repo) == {"relorch.yaml": f"-> {outside / 'planted.yaml'}"}


@pytest.mark.usefixtures("unchecked")
def test_a_parent_that_becomes_a_symlink_is_never_entered(layout: tuple[Path, Path]) -> None:
    repo, outside = layout
    (repo / ".github").symlink_to(outside)
    with pytest.raises(UsageError, match=r"\.github became something other than a directory"):
        write_new_files(repo, FILES)
    assert tree(outside) == {}
    assert tree(repo) == {".github": f"-> {outside}"}


def test_a_failure_half_way_removes_what_this_call_made(
    layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = layout
    real_link = os.link

    def link(source: str, target: str, **kwargs: object) -> None:
        if target == "release.yml":
            raise PermissionError(13, "Permission denied")
        real_link(source, target, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "link", link)
    with pytest.raises(UsageError, match="cannot write there: Permission denied"):
        write_new_files(repo, FILES)
    assert tree(repo) == {}
