"""The source of a release: the commit it builds in the project's git repository.

A release builds the commit its tag points to; a nightly builds the commit at a ref (a
branch, a tag, a commit; HEAD by default), versioned from the latest release tag that
ref contains. The commit is resolved once, before planning, and the plan exports that
commit: a tag or branch that moves during the run cannot change what is built.
"""

from __future__ import annotations

import shlex
import subprocess
from datetime import datetime
from pathlib import Path

from orchestrator.commands import build as commands
from orchestrator.errors import BuildError, UsageError
from orchestrator.version import Release, Revision, latest_release, nightly_release, parse_tag

# Longer names than this are no ref anyone types; git's own limit is far above.
MAX_REF_LENGTH = 255


def _git(repository: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repository), *arguments], capture_output=True, text=True, check=False
    )


def _check_repository(repository: Path) -> None:
    if not (repository / ".git").exists() and not (repository / "HEAD").is_file():
        raise UsageError(
            f"project.source {repository} is not a git repository; point it at the project's "
            "repository (for the sandbox example: invoke example.init)"
        )


def resolve_tag(repository: Path, tag: str) -> str:
    """The commit ``tag`` points to; a usage error when the repository or the tag is missing."""
    _check_repository(repository)
    result = _git(repository, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}")
    if result.returncode != 0:
        raise UsageError(f"tag {tag} does not exist in {repository}: create and push it first")
    return result.stdout.strip()


def resolve_ref(repository: Path, ref: str) -> str:
    """The commit ``ref`` names (a branch, a tag, a commit, HEAD); UsageError if none."""
    shown = ref[:60]
    # A leading '-' would be read as an option; git names hold no spaces or controls.
    unusable = len(ref) > MAX_REF_LENGTH or not ref.isprintable() or " " in ref
    if not ref or ref.startswith("-") or unusable:
        raise UsageError(f"--ref {shown!r} is not a git revision: pass a branch, tag or commit")
    _check_repository(repository)
    result = _git(repository, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if result.returncode != 0:
        raise UsageError(
            f"--ref {shown!r} names no commit in {repository}: pass a branch, tag or commit "
            "that exists there (fetch it first)"
        )
    return result.stdout.strip()


def reachable_tags(repository: Path, commit: str) -> list[str]:
    """The tags whose commit ``commit`` contains (itself included)."""
    result = _git(repository, "tag", "--list", "--merged", commit)
    if result.returncode != 0:
        raise BuildError(f"git tag --merged {commit} failed: {result.stderr.strip()}")
    return result.stdout.split()


def release_to_build(
    repository: Path, *, tag: str, nightly: bool, ref: str | None, now: datetime
) -> tuple[Release, Revision]:
    """The release a run makes and the revision it builds, from ``--tag``/``--nightly``/``--ref``.

    The tag is checked before git is asked anything, so a malformed tag is refused even
    where the repository is missing.
    """
    if not nightly:
        if ref is not None:
            raise UsageError("--ref builds a nightly: add --nightly (a release builds its tag)")
        release = parse_tag(tag)
        return release, Revision(tag, resolve_tag(repository, tag))
    if tag and ref is not None:
        raise UsageError("--nightly builds --tag or --ref, not both: pass one of them")
    if tag:
        # The tag's own code under the next nightly version.
        base = parse_tag(tag)
        return nightly_release(base, now), Revision(tag, resolve_tag(repository, tag))
    name = ref or "HEAD"
    commit = resolve_ref(repository, name)
    latest = latest_release(reachable_tags(repository, commit))
    if latest is None:
        raise UsageError(
            f"no release tag (vMAJOR.MINOR.PATCH) is reachable from {name} ({commit[:12]}) in "
            f"{repository}: a nightly is versioned from the latest release before it; tag one"
        )
    return nightly_release(latest, now), Revision(name, commit)


def export_source(repository: Path, commit: str, output: Path) -> Path:
    """Write ``git archive`` of ``commit`` to ``output`` (a .tar.gz) and return it."""
    output.parent.mkdir(parents=True, exist_ok=True)
    command = commands.source_archive(str(repository), commit, str(output))
    result = subprocess.run(shlex.split(command), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"git archive of {commit} failed: {result.stderr.strip()}")
    return output
