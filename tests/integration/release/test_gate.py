"""The release's tests in the sandbox: a tag whose tests fail, hang, or pass, as a user runs it.

One world for the module: the example's v1.2.3 (tests pass), v1.2.4 (a TESTS file saying
``fail``) and v1.2.5 (``hang``), each tag on its own commit.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.release.journal import read_journal
from orchestrator.sandbox.example import init_example_repository
from tests.conftest import git, new_test_directory
from tests.integration.conftest import ROOT, SandboxWorld, sandbox_inventory, world_of

pytestmark = pytest.mark.integration

HANG = "sleep 86399"  # what examples/hello/test.sh runs when told to hang


def tag_with_tests(source: Path, tag: str, says: str) -> None:
    """A commit after the last whose TESTS file says ``says``, tagged ``tag``."""
    (source / "TESTS").write_text(f"{says}\n")
    git(source, "add", "TESTS")
    git(source, "commit", "-q", "-m", f"tests that {says}")
    git(source, "tag", tag)


@pytest.fixture(scope="module")
def world() -> Iterator[SandboxWorld]:
    directory = new_test_directory()
    data, sandbox = sandbox_inventory(directory)
    data["workspace"] = str(directory / "workspace")
    data["tests"]["timeout"] = 20
    source = directory / "source"
    init_example_repository(ROOT / "examples" / "hello", source, ["v1.2.3"])
    tag_with_tests(source, "v1.2.4", "fail")
    tag_with_tests(source, "v1.2.5", "hang")
    with world_of(directory, data, sandbox) as made:
        yield made


def served_packages(world: SandboxWorld) -> str:
    """The repo server's amd64 Packages index of stable ("" while nothing is published)."""
    url = f"{world.data['publish'][0]['url']}/deb/dists/stable/main/binary-amd64/Packages"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())
    except urllib.error.HTTPError:
        return ""


def last_journal(world: SandboxWorld) -> dict[str, Any]:
    runs = Path(world.data["workspace"]) / ".orchestrator" / "runs"
    journal = read_journal(sorted(runs.glob("*/journal.json"))[-1])
    assert journal is not None
    return journal


def hanging_tests() -> list[str]:
    found = subprocess.run(["pgrep", "-af", HANG], capture_output=True, text=True, check=False)
    return found.stdout.splitlines()


def test_passing_tests_then_the_builds(world: SandboxWorld) -> None:
    result = world.invoke("release", "--tag", "v1.2.3", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["tests"]) == ("published", "passed")
    assert summary["gate"]["commands"] == ["./test.sh"] and summary["gate"]["droplet_seconds"] > 0
    assert "2 tests passed" in Path(summary["gate"]["log"]).read_text()
    assert "tests: test" in result.stderr  # its progress
    # The tests' droplet was gone before the first build droplet was created.
    droplets = last_journal(world)["droplets"].values()
    (tests,) = [d for d in droplets if "-tests-" in d["name"]]
    builds = [d for d in droplets if "-tests-" not in d["name"]]
    assert len(builds) == 4 and tests["destroyed_at"] <= min(d["created_at"] for d in builds)
    assert "Version: 1.2.3" in served_packages(world)
    world.assert_no_droplets()


def test_failing_tests_publish_nothing_and_skipping_them_releases(world: SandboxWorld) -> None:
    before = served_packages(world)
    failed = world.invoke("release", "--tag", "v1.2.4")
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert "tests: the tests failed with exit code 1" in failed.stdout
    assert "| test_greeting: FAIL: expected 'hello @VERSION@', got 'goodbye'" in failed.stdout
    assert "nothing was built or published" in failed.stdout
    journal = last_journal(world)
    assert [d["name"].split("-")[2] for d in journal["droplets"].values()] == ["tests"]
    report = (Path(world.data["workspace"]) / "reports" / f"{journal['run_id']}.html").read_text()
    assert "the tests failed with exit code 1" in report and "got &#39;goodbye&#39;" in report
    assert served_packages(world) == before and "1.2.4" not in before
    world.assert_no_droplets()

    skipped = world.invoke("release", "--tag", "v1.2.4", "--skip-tests", "--json")
    assert skipped.returncode == 0, skipped.stderr[-3000:]
    summary = json.loads(skipped.stdout)
    assert (summary["status"], summary["tests"], summary["gate"]) == ("published", "skipped", None)
    assert not any("-tests-" in d["name"] for d in last_journal(world)["droplets"].values())
    assert "Version: 1.2.4" in served_packages(world)
    world.assert_no_droplets()


def test_hanging_tests_end_at_their_timeout_and_leave_nothing(world: SandboxWorld) -> None:
    world.data["tests"]["timeout"] = 3
    world.rewrite()
    started = time.monotonic()
    result = world.invoke("release", "--tag", "v1.2.5", timeout=120)
    took = time.monotonic() - started
    assert result.returncode == 1, result.stderr[-3000:]
    assert "tests: the tests exceeded their timeout of 3s" in result.stdout
    assert "| test_forever: started" in result.stdout
    assert took < 60, took
    world.assert_no_droplets()
    assert hanging_tests() == []
    assert "1.2.5" not in served_packages(world)
