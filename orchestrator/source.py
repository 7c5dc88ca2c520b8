"""The source of a release: the tag in the project's git repository, exported once."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from orchestrator import commands
from orchestrator.errors import BuildError, UsageError


def resolve_tag(repository: Path, tag: str) -> str:
    """The commit ``tag`` points to; a usage error when the repository or the tag is missing."""
    if not (repository / ".git").exists() and not (repository / "HEAD").is_file():
        raise UsageError(
            f"project.source {repository} is not a git repository; point it at the project's "
            "repository (for the sandbox example: invoke example.init)"
        )
    result = subprocess.run(
        [
            "git",
            "-C",
            str(repository),
            "rev-parse",
            "--verify",
            "--quiet",
            f"refs/tags/{tag}^{{commit}}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise UsageError(f"tag {tag} does not exist in {repository}: create and push it first")
    return result.stdout.strip()


def export_source(repository: Path, tag: str, output: Path) -> Path:
    """Write ``git archive`` of ``tag`` to ``output`` (a .tar.gz) and return it."""
    output.parent.mkdir(parents=True, exist_ok=True)
    command = commands.source_archive(str(repository), tag, str(output))
    result = subprocess.run(shlex.split(command), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"git archive of {tag} failed: {result.stderr.strip()}")
    return output
