"""A nightly builds the branch tip: the night's commits are in its package."""

from __future__ import annotations

import json
import subprocess

import pytest

from orchestrator.sandbox.example import init_example_repository
from tests.conftest import git
from tests.integration.conftest import ROOT, SandboxWorld

pytestmark = pytest.mark.integration


def test_a_commit_after_the_last_tag_is_in_the_nightly(sandbox_world: SandboxWorld) -> None:
    world = sandbox_world
    source = world.directory / "source"
    init_example_repository(ROOT / "examples" / "hello", source, ["v1.2.3"])
    hello = source / "hello"
    hello.write_text(hello.read_text() + 'echo "fixed tonight"\n')
    git(source, "commit", "-q", "-am", "A fix after the last release")
    tip = git(source, "rev-parse", "HEAD")
    world.data["targets"] = [t for t in world.data["targets"] if t["name"] == "amd64-deb"]
    world.data["workspace"] = str(world.directory / "workspace")
    world.rewrite()

    result = world.invoke("release", "--nightly", "--json")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["version"].startswith("1.3.0~nightly.") and summary["channel"] == "nightly"
    assert (summary["ref"], summary["commit"]) == ("HEAD", tip)
    (package,) = (world.directory / "workspace" / ".orchestrator" / "runs").glob(
        f"{summary['run_id']}/artifacts/amd64-deb/**/*.deb"
    )
    contents = subprocess.run(
        f"dpkg-deb --fsys-tarfile {package} | tar -xO ./usr/bin/hello",
        shell=True,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "fixed tonight" in contents
    world.assert_no_droplets()

    text = world.invoke("release", "--nightly", "--ref", "main")
    assert text.returncode == 0, text.stderr
    assert "main -> 1.3.0~nightly." in text.stdout and f"built from commit {tip}" in text.stdout


def test_a_nightly_with_nothing_to_build_from_is_refused(sandbox_world: SandboxWorld) -> None:
    world = sandbox_world
    init_example_repository(ROOT / "examples" / "hello", world.directory / "source", ["v1.2.3"])
    requests = world.request_count()
    for args, message in [
        (("--nightly", "--ref", "no-such-branch"), "--ref 'no-such-branch' names no commit"),
        (("--nightly", "--ref", "v1.2.3", "--tag", "v1.2.3"), "not both"),
        (("--tag", "v1.2.3", "--ref", "main"), "add --nightly"),
    ]:
        result = world.invoke("release", *args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: ") and message in result.stderr
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert world.request_count() == requests  # no cloud request at all
