"""`invoke release` end to end in the sandbox, as a user runs it."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.release.journal import read_journal
from orchestrator.sandbox.example import init_example_repository
from tests.integration.conftest import ROOT, SandboxWorld

pytestmark = pytest.mark.integration

BUILD = "./build.sh {{ format }} {{ arch }} {{ version }}"


@pytest.fixture
def world(sandbox_world: SandboxWorld) -> SandboxWorld:
    init_example_repository(
        ROOT / "examples" / "hello",
        sandbox_world.directory / "source",
        ["v1.2.3", "v1.2.4", "v1.3.0-rc.1"],
    )
    sandbox_world.data["workspace"] = str(sandbox_world.directory / "workspace")
    sandbox_world.rewrite()
    return sandbox_world


def set_commands(world: SandboxWorld, commands: dict[str, str], **top: Any) -> None:
    for target in world.data["targets"]:
        target["command"] = commands.get(target["name"], BUILD)
    world.data.update(top)
    world.inventory_path.write_text(yaml.safe_dump(world.data))


def workspace(world: SandboxWorld) -> Path:
    return world.directory / "workspace"


def journals(world: SandboxWorld) -> list[dict[str, Any]]:
    found = [
        read_journal(p)
        for p in sorted((workspace(world) / ".orchestrator" / "runs").glob("*/journal.json"))
    ]
    return [j for j in found if j]


def tree_snapshot(world: SandboxWorld) -> dict[str, bytes]:
    root = workspace(world) / ".orchestrator" / "repository"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".state" not in p.parts
    }


def published_url(world: SandboxWorld) -> str:
    url: str = world.data["publish"][0]["url"]
    return url


def test_release_json_summary_then_already_published(world: SandboxWorld) -> None:
    result = world.invoke("release", "--tag", "v1.2.3", "--json", "--verify")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (
        summary["tag"] == "v1.2.3"
        and summary["version"] == "1.2.3"
        and summary["channel"] == "stable"
    )
    assert summary["status"] == "published" and summary["run_id"]
    assert summary["published"] == [
        {
            "name": "sandbox-repo",
            "url": published_url(world),
            "key_url": f"{published_url(world)}/keys/hello.asc",
            "snapshot": summary["published"][0]["snapshot"],
        }
    ]
    assert any("verify: all" in m for m in summary["messages"])
    assert [t["name"] for t in summary["targets"]] == [
        "amd64-deb",
        "arm64-deb",
        "amd64-rpm",
        "arm64-rpm",
    ]
    for target in summary["targets"]:
        assert (
            target["status"] == "succeeded"
            and target["seconds"] > 0
            and target["droplet_seconds"] > 0
        )
        assert len(target["artifacts"]) == 1
    assert "amd64-deb: build" in result.stderr  # progress goes to stderr with --json
    journal = journals(world)[-1]
    assert journal["status"] == summary["status"]
    assert len(journal["droplets"]) == 5 and all(  # the tests' and the targets'
        d["destroyed_at"] for d in journal["droplets"].values()
    )
    operations = {(op["target"], op["name"]): op["status"] for op in journal["operations"]}
    assert operations[None, "signing-key"] == operations["arm64-rpm", "build"] == "done"
    assert operations[None, "index"] == operations[None, "publish sandbox-repo"] == "done"
    report = Path(summary["report"]).read_text()
    # A row per target, one for the tests and one for the run-wide operations (the lock,
    # index, publish...).
    assert report.count('class="bar bar-succeeded" data-target=') == 6
    assert summary["tests"] == "passed" and summary["gate"]["error"] is None
    assert 'data-stage="publish sandbox-repo"' in report
    world.assert_no_droplets()

    again = world.invoke("release", "--tag", "v1.2.3")
    assert again.returncode == 0 and "already published" in again.stdout
    assert world.invoke("verify").returncode == 0

    assert world.invoke("release", "--tag", "v1.2.4").returncode == 0
    for version in ("1.2.3", "1.2.4"):  # both versions stay installable
        check = world.invoke("verify", "--version", version)
        assert check.returncode == 0, check.stdout
    assert world.invoke("verify").returncode == 0

    # What is "already published" is what the target serves: after a rollback, the tag
    # is published again, from the local tree, without a build.
    rollback = world.invoke("repo.rollback")
    assert rollback.returncode == 0, rollback.stderr
    assert world.invoke("verify", "--version", "1.2.4").returncode == 1
    again = world.invoke("release", "--tag", "v1.2.4", "--json")
    assert again.returncode == 0, again.stderr
    republished = json.loads(again.stdout)
    assert republished["status"] == "published" and republished["targets"] == []
    for version in ("1.2.3", "1.2.4"):  # both versions stay installable
        check = world.invoke("verify", "--version", version)
        assert check.returncode == 0, check.stdout

    prerelease = world.invoke("release", "--tag", "v1.3.0-rc.1", "--json")
    assert prerelease.returncode == 0, prerelease.stderr
    assert json.loads(prerelease.stdout)["channel"] == "testing"
    assert world.invoke("verify", "--version", "1.3.0~rc.1", "--channel", "testing").returncode == 0
    assert world.invoke("verify", "--version", "1.3.0~rc.1", "--channel", "stable").returncode == 1

    nightly = world.invoke("release", "--tag", "v1.2.4", "--nightly", "--json")
    assert nightly.returncode == 0, nightly.stderr
    version = json.loads(nightly.stdout)["version"]
    assert (
        version.startswith("1.3.0~nightly.") and json.loads(nightly.stdout)["channel"] == "nightly"
    )
    for higher in ("1.3.0", "1.3.0~rc.1"):
        assert (
            subprocess.run(
                ["dpkg", "--compare-versions", version, "lt", higher], check=False
            ).returncode
            == 0
        )
    check = world.invoke("verify", "--version", version, "--channel", "nightly")
    assert check.returncode == 0, check.stdout


def test_a_failing_target_publishes_nothing(world: SandboxWorld) -> None:
    assert world.invoke("release", "--tag", "v1.2.3").returncode == 0
    before = tree_snapshot(world)
    served = urllib.request.urlopen(f"{published_url(world)}/deb/dists/stable/InRelease").read()
    set_commands(world, {"arm64-rpm": "echo broken >&2; exit 7"})
    result = world.invoke("release", "--tag", "v1.2.4")
    assert result.returncode == 1
    assert "arm64-rpm: build failed with exit code 7" in result.stdout
    assert tree_snapshot(world) == before
    assert (
        urllib.request.urlopen(f"{published_url(world)}/deb/dists/stable/InRelease").read()
        == served
    )
    assert journals(world)[-1]["status"] == "failed"
    world.assert_no_droplets()

    # A machine that starts empty gets the served tree back before it builds.
    repository = workspace(world) / ".orchestrator" / "repository"
    shutil.rmtree(repository)
    set_commands(world, {})
    pulled = world.invoke("release", "--tag", "v1.2.4")
    assert pulled.returncode == 0, pulled.stderr
    assert "is missing: pulling it from repo server sandbox-repo" in pulled.stdout + pulled.stderr
    packages = urllib.request.urlopen(
        f"{published_url(world)}/deb/dists/stable/main/binary-amd64/Packages"
    ).read()
    assert b"Version: 1.2.3" in packages and b"Version: 1.2.4" in packages

    # A tree that lost a published package would unpublish it: no droplet is created.
    lost_deb = next((repository / "deb/pool/main/h/hello").glob("hello_1.2.3*_amd64.deb"))
    lost_deb.unlink()
    lost = world.invoke("release", "--tag", "v1.3.0-rc.1")
    assert lost.returncode == 1
    assert f"lacks 1 package(s) published there, such as {lost_deb.relative_to(repository)}" in (
        lost.stdout
    )
    journal = journals(world)[-1]
    assert journal["status"] == "failed" and journal["droplets"] == {}


SECRETS = {
    "DIGITALOCEAN_ACCESS_TOKEN": "canary-token-1c2d",
    "ORCHESTRATOR_SIGNING_PASSPHRASE": "canary-passphrase-3e4f",
    "SPACES_SECRET": "canary-spaces-5a6b",
    "AWS_SECRET_ACCESS_KEY": "canary-aws-7c8d",
}


def test_after_publish_hooks_see_extra_artifacts_and_fail_loudly(
    world: SandboxWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    for target in world.data["targets"]:
        target["extra_artifacts"] = ["build/hello"]
    marker, environment = world.directory / "hook.out", world.directory / "hook.env"
    set_commands(
        world,
        {},
        hooks={
            "after_publish": [
                f"echo $VERSION $EXTRA_ARTIFACTS > {marker}",
                f"env > {environment}",
                "echo giving up >&2; exit 4",
            ],
            "env": ["CHAT_WEBHOOK"],
        },
    )
    for name, value in {**SECRETS, "CHAT_WEBHOOK": "https://chat.example/hook"}.items():
        monkeypatch.setenv(name, value)
    result = world.invoke("release", "--tag", "v1.2.3")
    assert result.returncode == 1, result.stdout
    assert "hook failed (exit 4): echo giving up >&2; exit 4: giving up" in result.stdout
    version, *extras = marker.read_text().split()
    assert (
        version == "1.2.3" and len(extras) == 4 and all(e.endswith("build/hello") for e in extras)
    )
    # A hook gets what the inventory passes it, never a secret.
    seen = dict(line.split("=", 1) for line in environment.read_text().splitlines() if "=" in line)
    assert seen["CHAT_WEBHOOK"] == "https://chat.example/hook" and seen["VERSION"] == "1.2.3"
    assert not set(SECRETS) & set(seen), sorted(seen)
    # Nor does a secret reach a journal, log, report or anything else the run leaves.
    for path in (world.directory / "workspace").rglob("*"):
        if path.is_file() and not path.is_symlink():
            content = path.read_bytes()
            assert not any(value.encode() in content for value in SECRETS.values()), path
    # The release itself stands: a hook failure never un-publishes.
    assert "already published" in world.invoke("release", "--tag", "v1.2.3").stdout


def test_sigint_during_build_cleans_up_and_resume_completes(world: SandboxWorld) -> None:
    slow = f"sleep 300; {BUILD}"
    # Deleted droplets linger, so the cleanup takes long enough for a second Ctrl-C.
    world.rewrite(delete_linger=3.0)
    set_commands(world, {"arm64-deb": slow, "arm64-rpm": slow})
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "invoke",
            "release",
            "--tag",
            "v1.2.3",
            "--inventory",
            str(world.inventory_path),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = journals(world)
            if runs and len(runs[-1]["targets"]) == 2:
                break
            time.sleep(0.2)
        assert journals(world)[-1]["targets"].keys() == {"amd64-deb", "amd64-rpm"}
        interrupted_at = time.monotonic()
        process.send_signal(signal.SIGINT)
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)  # a second Ctrl-C must not stop the cleanup
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, output
    assert time.monotonic() - interrupted_at < 60
    assert "still cleaning up" in output
    world.assert_no_droplets()
    journal = journals(world)[-1]
    assert journal["status"] == "interrupted"

    set_commands(world, {})
    resumed = world.invoke("release", "--tag", "v1.2.3", "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    statuses = {t["name"]: t["status"] for t in summary["targets"]}
    assert statuses == {
        "amd64-deb": "reused",
        "amd64-rpm": "reused",
        "arm64-deb": "succeeded",
        "arm64-rpm": "succeeded",
    }
    assert any("reusing 2 verified target(s)" in m for m in summary["messages"])
    world.assert_no_droplets()
