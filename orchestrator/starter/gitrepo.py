"""What ``relorch init`` asks git: the repository's top level and its ``origin`` remote."""

from __future__ import annotations

import subprocess
from pathlib import Path

from orchestrator.errors import UsageError

GIT_TIMEOUT = 30.0


def _git(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise UsageError("git is not installed: relorch releases a git repository's tags") from None


def top_level(directory: Path) -> Path:
    """The top level of the git work tree ``directory`` is in; UsageError when it is in none."""
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory")
    answer = _git(directory, "rev-parse", "--show-toplevel")
    if answer.returncode != 0:
        said = (answer.stderr.strip().splitlines() or ["no answer"])[-1][:200]
        raise UsageError(
            f"{directory}: not in a git work tree ({said}); relorch releases a git "
            "repository's tags: run `git init` there first"
        )
    return Path(answer.stdout.strip())


def origin_url(top: Path) -> str | None:
    """The URL of the repository's ``origin`` remote, as configured; None without one."""
    answer = _git(top, "config", "--get", "remote.origin.url")
    if answer.returncode != 0:  # 1: no such key
        return None
    return answer.stdout.strip() or None
