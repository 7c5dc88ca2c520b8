"""What a release builds: the tag's commit, or a nightly's ref, in a real git repository."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.errors import TagError, UsageError
from orchestrator.release.source import release_to_build
from orchestrator.version import Channel, latest_release
from tests.conftest import git

NOW = datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC)


def commit(repository: Path, text: str) -> str:
    (repository / "file").write_text(text)
    git(repository, "add", "-A")
    git(repository, "commit", "-q", "-m", text)
    return git(repository, "rev-parse", "HEAD")


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    commit(tmp_path, "one")
    git(tmp_path, "tag", "v1.2.3")
    commit(tmp_path, "two")
    git(tmp_path, "tag", "v1.2.4")
    commit(tmp_path, "three")
    git(tmp_path, "tag", "v1.3.0-rc.1")
    return tmp_path


def test_a_release_builds_its_tags_commit(repository: Path) -> None:
    release, revision = release_to_build(repository, tag="v1.2.4", nightly=False, ref=None, now=NOW)
    assert release.package_version == "1.2.4"
    assert revision.ref == "v1.2.4"
    assert revision.commit == git(repository, "rev-parse", "v1.2.4^{commit}")


def test_a_nightly_builds_the_branch_tip_past_the_last_tag(repository: Path) -> None:
    tip = commit(repository, "four: after the last tag")
    release, revision = release_to_build(repository, tag="", nightly=True, ref=None, now=NOW)
    # The latest plain release reachable is v1.2.4 (the rc is not a base).
    assert release.package_version == "1.3.0~nightly.20261122.103005"
    assert release.channel is Channel.NIGHTLY and release.tag == "v1.2.4"
    assert (revision.ref, revision.commit) == ("HEAD", tip)


def test_a_nightly_of_a_branch_is_versioned_from_the_tags_that_branch_contains(
    repository: Path,
) -> None:
    git(repository, "checkout", "-q", "-b", "old", "v1.2.3")
    side = commit(repository, "a fix on an old line")
    git(repository, "checkout", "-q", "main")
    release, revision = release_to_build(repository, tag="", nightly=True, ref="old", now=NOW)
    assert release.package_version.startswith("1.3.0~nightly.") and release.tag == "v1.2.3"
    assert (revision.ref, revision.commit) == ("old", side)


def test_a_nightly_of_a_tag_builds_that_tags_code(repository: Path) -> None:
    release, revision = release_to_build(repository, tag="v1.2.3", nightly=True, ref=None, now=NOW)
    assert release.package_version == "1.3.0~nightly.20261122.103005"
    assert revision.commit == git(repository, "rev-parse", "v1.2.3^{commit}")


@pytest.mark.parametrize(
    ("tag", "nightly", "ref", "message"),
    [
        ("", True, "nothing-here", "--ref 'nothing-here' names no commit"),
        ("", True, "--output=/tmp/x", "is not a git revision"),
        ("", True, "main\nHEAD", "is not a git revision"),
        ("", True, "a b", "is not a git revision"),
        ("", True, "x" * 300, "is not a git revision"),
        ("v1.2.3", True, "main", "--nightly builds --tag or --ref, not both"),
        ("v1.2.3", False, "main", "--ref builds a nightly: add --nightly"),
    ],
)
def test_refs_that_name_nothing_are_refused(
    repository: Path, tag: str, nightly: bool, ref: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        release_to_build(repository, tag=tag, nightly=nightly, ref=ref, now=NOW)


def test_a_nightly_with_no_release_tag_behind_it_is_refused(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    commit(tmp_path, "one")
    git(tmp_path, "tag", "v1.0.0-rc.1")
    with pytest.raises(UsageError, match=r"no release tag \(vMAJOR.MINOR.PATCH\) is reachable"):
        release_to_build(tmp_path, tag="", nightly=True, ref="main", now=NOW)


def test_a_malformed_tag_is_refused_before_git_is_asked(tmp_path: Path) -> None:
    with pytest.raises(TagError):
        release_to_build(tmp_path / "missing", tag="v1.2", nightly=False, ref=None, now=NOW)


def test_the_latest_release_ignores_prereleases_and_other_tags() -> None:
    latest = latest_release(["v1.2.3", "v1.10.0", "v1.9.9", "v2.0.0-rc.1", "release-3", "v3"])
    assert latest is not None and latest.tag == "v1.10.0"
    assert latest_release(["v2.0.0-rc.1", "nightly"]) is None
