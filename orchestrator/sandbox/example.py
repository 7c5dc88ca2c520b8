"""The example project as a git repository with release tags, for sandbox rehearsals.

``examples/hello`` lives inside this repository, but a release needs a source repository
whose tags are the release tags. :func:`init_example_repository` makes one: a commit of
the example per tag, each tag on its own commit, adding only the tags that are missing.
A *broken* tag's commit carries a file ``HEALTH`` saying ``fail``: its build bakes a service
that fails its health check, as a bad release would.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from orchestrator.errors import UsageError
from orchestrator.version import parse_tag

DEFAULT_TAGS = ("v1.2.3", "v1.2.4", "v1.3.0-rc.1")
HEALTH_FILE = "HEALTH"


def _git(repository: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repository), *args],
        check=True,
        capture_output=True,
        text=True,
        env={
            "GIT_AUTHOR_NAME": "Release Team",
            "GIT_AUTHOR_EMAIL": "release@example.org",
            "GIT_COMMITTER_NAME": "Release Team",
            "GIT_COMMITTER_EMAIL": "release@example.org",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(repository),
        },
    )
    return result.stdout


def init_example_repository(
    example: Path, repository: Path, tags: Sequence[str], broken: Sequence[str] = ()
) -> list[str]:
    """Make ``repository`` a git repository of ``example`` carrying ``tags``; return tags added.

    Tags in ``broken`` (added after ``tags`` unless listed there) build a release that fails
    its health check.
    """
    tags = [*tags, *(tag for tag in broken if tag not in tags)]
    for tag in tags:
        parse_tag(tag)
    if not (example / "build.sh").is_file():
        raise UsageError(
            f"{example} is not the example project (no build.sh): example.init runs from a "
            "checkout of the orchestrator's repository; an installed package releases your "
            "own project (relorch init)"
        )
    if not (repository / ".git").is_dir():
        repository.mkdir(parents=True, exist_ok=True)
        _git(repository, "init", "-q", "-b", "main")
    existing = set(_git(repository, "tag", "--list").split())
    added = []
    for tag in tags:
        if tag in existing:
            continue
        shutil.copytree(
            example, repository, dirs_exist_ok=True, ignore=shutil.ignore_patterns("dist", "build")
        )
        (repository / "RELEASE").write_text(f"{tag}\n")
        health = repository / HEALTH_FILE
        if tag in broken:
            health.write_text("fail\n")
        else:
            health.unlink(missing_ok=True)
        _git(repository, "add", "-A")
        _git(repository, "commit", "-q", "--allow-empty", "-m", f"Release {tag}")
        _git(repository, "tag", tag)
        added.append(tag)
    return added
