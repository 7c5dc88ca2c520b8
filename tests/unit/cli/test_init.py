"""``relorch init`` as a user runs it: the console script, in a git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrator.config.inventory import load_inventory
from tests.unit.cli.test_program import relorch
from tests.unit.engine.test_newfiles import tree


def git_repository(path: Path, origin: str | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    if origin is not None:
        subprocess.run(["git", "-C", str(path), "remote", "add", "origin", origin], check=True)
    return path


def refused_on_one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and result.stdout == ""
    return result.stderr


def test_init_names_the_project_after_the_origin_and_writes_at_the_top_level(
    tmp_path: Path,
) -> None:
    repo = git_repository(tmp_path / "checkout", "git@github.com:acme/Hello_World.git")
    (repo / "src").mkdir()
    done = relorch("init", cwd=repo / "src")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote relorch.yaml in {repo} (project hello-world)\n")
    assert f"  cd {repo}\n" in done.stdout
    assert "relorch inventory.check" in done.stdout
    assert sorted(path.name for path in repo.iterdir()) == [".git", "relorch.yaml", "src"]
    assert load_inventory(repo / "relorch.yaml").project.name == "hello-world"


def test_without_origin_the_folder_names_the_project(tmp_path: Path) -> None:
    repo = git_repository(tmp_path / "My.Tool")
    assert relorch("init", cwd=repo).returncode == 0
    assert load_inventory(repo / "relorch.yaml").project.name == "my.tool"


def test_name_and_directory_flags(tmp_path: Path) -> None:
    repo = git_repository(tmp_path / "checkout", "https://example.org/acme/other.git")
    done = relorch("init", "--name", "hello", "--directory", str(repo), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert load_inventory(repo / "relorch.yaml").project.name == "hello"


def test_a_hostile_origin_gives_a_plain_name_and_writes_only_at_the_top_level(
    tmp_path: Path,
) -> None:
    repo = git_repository(tmp_path / "work" / "checkout", "https://x/../../evil;rm")
    done = relorch("init", "--ci", "github", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert load_inventory(repo / "relorch.yaml").project.name == "evil-rm"
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["checkout"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


@pytest.mark.parametrize(
    ("ci", "present"),
    [
        (None, "relorch.yaml"),
        ("gitlab", ".gitlab-ci.yml"),
        ("github", ".github/workflows/release.yml"),
        ("github", "relorch.yaml"),
    ],
)
def test_init_over_an_existing_file_writes_nothing(
    tmp_path: Path, ci: str | None, present: str
) -> None:
    repo = git_repository(tmp_path / "hello")
    (repo / present).parent.mkdir(parents=True, exist_ok=True)
    (repo / present).write_text("mine\n")
    before = tree(repo)
    refused = relorch("init", *(["--ci", ci] if ci else []), cwd=repo)
    assert refused_on_one_line(refused) == (
        f"error: {repo}: {present} exists; nothing written, nothing replaced\n"
    )
    assert tree(repo) == before


def test_a_symlink_planted_at_relorch_yaml_is_refused_not_followed(tmp_path: Path) -> None:
    repo = git_repository(tmp_path / "hello")
    (repo / "relorch.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    refused_on_one_line(relorch("init", cwd=repo))
    assert not (tmp_path / "elsewhere.yaml").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ci", "jenkins"], "error: --ci takes gitlab or github, got 'jenkins'\n"),
        (["--name", "Bad Name"], "error: --name 'Bad Name' is not a package name"),
        (["--directory", "nowhere"], "error: nowhere: not a directory\n"),
    ],
)
def test_bad_flags_exit_2_on_one_line_and_write_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    repo = git_repository(tmp_path / "hello")
    before = tree(repo)
    assert refused_on_one_line(relorch("init", *args, cwd=repo)).startswith(message)
    assert tree(repo) == before


def test_outside_a_git_repository_init_says_to_make_one(tmp_path: Path) -> None:
    message = refused_on_one_line(relorch("init", cwd=tmp_path))
    assert message.startswith("error: .: not in a git work tree (")
    assert message.endswith("run `git init` there first\n")
    assert list(tmp_path.iterdir()) == []
