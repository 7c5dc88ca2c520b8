"""Publishing to the sandbox repo server through the tasks, as a user runs them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.cli.wiring.publish import with_publish_access
from orchestrator.commands.repo_server import MANIFEST
from orchestrator.engine.locks import LockDetails
from orchestrator.publish.local import scan_tree
from orchestrator.publish.manifest import Manifest
from orchestrator.publish.run import resolve_targets
from orchestrator.repo.build import add_packages
from orchestrator.repo.options import RepoOptions
from orchestrator.repo.signing import Signer
from tests.integration.conftest import PROJECT, ROOT, SandboxWorld, build_set, ok
from tests.integration.publish.conftest import (
    TreeVersions,
    file_hashes,
    published_part,
    run_env,
    web_root,
)

pytestmark = pytest.mark.integration


def publish(world: SandboxWorld, tree: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return world.invoke("repo.publish", "--repo", str(tree), *flags)


def spawn_publish(world: SandboxWorld, tree: Path, *flags: str) -> subprocess.Popen[str]:
    """``invoke repo.publish`` in the background, its output in one pipe."""
    command = [sys.executable, "-m", "invoke", "repo.publish", "--repo", str(tree), *flags]
    return subprocess.Popen(
        [*command, "--inventory", str(world.inventory_path)],
        cwd=ROOT,
        env=run_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def audit(world: SandboxWorld) -> list[list[str]]:
    return [line.split("\t") for line in (web_root(world) / "audit.log").read_text().splitlines()]


def assert_serves(world: SandboxWorld, tree: Path) -> None:
    """``current`` holds exactly the tree (plus retired files), as its manifest says."""
    current = web_root(world) / "current"
    manifest = Manifest.from_json((current / MANIFEST).read_bytes(), "current")
    assert manifest.files == scan_tree(tree).files
    served = {path: digest for path, digest in file_hashes(current).items() if path != MANIFEST}
    assert served == {path: info.sha256 for path, info in manifest.stored().items()}


def test_publish_verify_rollback(repo_world: SandboxWorld, tree_versions: TreeVersions) -> None:
    first, second = tree_versions.trees[:2]
    assert "published to sandbox-repo: snapshot" in ok(
        publish(repo_world, first, "--tag", "v1.0.0")
    )
    assert "file(s) uploaded" in ok(publish(repo_world, second, "--tag", "v1.1.0"))
    assert "(unchanged)" in ok(publish(repo_world, second, "--tag", "v1.1.0"))
    assert_serves(repo_world, second)
    assert published_part(second).items() <= file_hashes(web_root(repo_world) / "current").items()

    verified = ok(repo_world.invoke("verify"))
    for line in ("apt     stable   amd64", "apt     stable   arm64", "dnf     stable   x86_64",
                 "dnf     stable   aarch64", "zypper  stable"):  # fmt: skip
        assert line in verified
    assert "demo_1.1.0-1_arm64.deb" in verified
    assert "5 of 5 checks passed" in verified

    listing = ok(repo_world.invoke("repo.snapshots")).splitlines()
    assert [line[:2] for line in listing[1:]] == ["  ", "* "]
    rolled = ok(repo_world.invoke("repo.rollback"))
    assert rolled.strip().endswith(f"(was {listing[2][2:]})") and "-1.0.0" in rolled
    assert_serves(repo_world, first)
    assert ok(repo_world.invoke("repo.snapshots")).splitlines()[1].startswith("* ")

    missing = repo_world.invoke("verify", "--version", "1.1.0")
    assert missing.returncode == 1
    assert "FAILED: no 1.1.0 (offered: 1.0.0-1)" in missing.stdout
    assert "5 of 5 checks passed" in ok(repo_world.invoke("verify", "--version", "1.0.0"))

    results = [(fields[2], fields[5], fields[6]) for fields in audit(repo_world)]
    assert results[0][:2] == ("1.0.0", "published")
    assert results[1][:2] == ("1.1.0", "published")
    assert results[2] == ("1.1.0", "published", "unchanged")
    assert results[3][:2] == ("1.0.0", "rolled back")


def _with_big_file(tree: Path, work: Path, size: int) -> tuple[Path, str]:
    copy = work / "big-tree"
    shutil.copytree(tree, copy)
    relative = "deb/pool/main/b/big/big.bin"
    (copy / relative).parent.mkdir(parents=True)
    with (copy / relative).open("wb") as handle:
        for _ in range(size // (1 << 20)):
            handle.write(os.urandom(1 << 20))
    return copy, relative


def test_a_killed_publish_leaves_current_as_it_was(
    repo_world: SandboxWorld, tree_versions: TreeVersions, tmp_path: Path
) -> None:
    ok(publish(repo_world, tree_versions.trees[0]))
    current = web_root(repo_world) / "current"
    link, before = os.readlink(current), file_hashes(current)
    size = 128 << 20
    big, relative = _with_big_file(tree_versions.trees[0], tmp_path, size)

    process = spawn_publish(repo_world, big)
    snapshots = web_root(repo_world) / "snapshots"
    deadline = time.monotonic() + 60
    partial = 0
    while time.monotonic() < deadline and process.poll() is None:
        uploads = list(snapshots.glob(f".new-*/{relative}"))
        partial = uploads[0].stat().st_size if uploads else 0
        if 0 < partial < size:
            break
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    assert 0 < partial < size, "the publish was not caught mid-upload"

    assert os.readlink(current) == link
    assert file_hashes(current) == before
    assert list(snapshots.glob(".new-*"))

    following = tree_versions.trees[1]
    output = ok(publish(repo_world, following))
    assert "breaking the lock of run" in output and "that process is gone" in output
    assert not list(snapshots.glob(".new-*"))
    assert_serves(repo_world, following)


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_two_publishes_at_once_take_turns(
    repo_world: SandboxWorld, tree_versions: TreeVersions, tmp_path: Path
) -> None:
    ok(publish(repo_world, tree_versions.trees[1]))
    # The first one uploads a large file, so the second surely arrives while it publishes.
    slow, _ = _with_big_file(tree_versions.trees[2], tmp_path, 64 << 20)
    lock = web_root(repo_world) / ".lock" / "details"
    first = spawn_publish(repo_world, slow, "--version", "1.2.0")
    _wait_for(lock.exists, "the first publish to take the lock")
    second = spawn_publish(repo_world, tree_versions.trees[3], "--version", "1.3.0",
                           "--lock-wait", "120")  # fmt: skip
    outputs = [process.communicate(timeout=240)[0] for process in (first, second)]

    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert "waiting up to 120s for the lock held by run" in outputs[1]
    assert "waiting" not in outputs[0]
    assert [line[2] for line in audit(repo_world)[-2:]] == ["1.2.0", "1.3.0"]
    assert_serves(repo_world, tree_versions.trees[3])
    assert not lock.parent.exists()
    # The first one's snapshot, with its large file, is intact for a rollback.
    assert "1.2.0" in ok(repo_world.invoke("repo.rollback"))
    assert_serves(repo_world, slow)


def test_a_held_lock_names_its_holder_and_can_be_forced(
    repo_world: SandboxWorld, tree_versions: TreeVersions
) -> None:
    lock = web_root(repo_world) / ".lock"
    lock.mkdir(parents=True)
    holder = LockDetails(
        run_id="20261122t000000-abcdef", tag="v9.9.9", host="elsewhere", pid=1, started="1",
        boot="b", since="2026-11-22T00:00:00Z", token="t",
    )  # fmt: skip
    (lock / "details").write_text(holder.render())

    refused = publish(repo_world, tree_versions.trees[0], "--lock-wait", "1")
    assert refused.returncode == 1
    assert "locked by run 20261122t000000-abcdef (v9.9.9) on elsewhere, pid 1" in refused.stderr
    assert "gave up after 1s" in refused.stderr
    assert "locked by run 20261122t000000-abcdef" in ok(repo_world.invoke("repo.unlock"))
    assert lock.exists()
    assert "removed the lock of run" in ok(repo_world.invoke("repo.unlock", "--force"))
    assert "not locked" in ok(repo_world.invoke("repo.unlock"))
    ok(publish(repo_world, tree_versions.trees[0]))


def test_a_failed_publish_is_audited_and_unlocked(
    repo_world: SandboxWorld, tree_versions: TreeVersions
) -> None:
    (web_root(repo_world) / "current").mkdir(parents=True)

    failed = publish(repo_world, tree_versions.trees[0], "--tag", "v1.0.0")

    assert failed.returncode == 1
    assert "/root/repo/current is not a symlink; move it away" in failed.stderr
    (line,) = audit(repo_world)
    assert line[1:3] + line[5:6] == ["v1.0.0", "1.0.0", "failed"]
    assert not (web_root(repo_world) / ".lock").exists()


def test_packages_the_tree_lacks_stay_published_unless_allowed(
    repo_world: SandboxWorld, tree_versions: TreeVersions
) -> None:
    first, _, third = tree_versions.trees[:3]
    ok(publish(repo_world, third))

    refused = publish(repo_world, first)
    assert refused.returncode == 1
    assert "lacks 8 package(s) published there, such as deb/pool/main/d/demo/demo_1.1.0" in (
        refused.stderr
    )
    assert "--allow-removals" in refused.stderr
    assert_serves(repo_world, third)
    assert audit(repo_world)[-1][5] == "failed"

    ok(publish(repo_world, first, "--allow-removals"))
    assert_serves(repo_world, first)


def test_a_pulled_tree_carries_on_where_the_served_one_left_off(
    repo_world: SandboxWorld,
    tree_versions: TreeVersions,
    tmp_path: Path,
    nfpm: Callable[[str, str, str, str], Path],
    signer: Signer,
) -> None:
    # The fourth tree pruned 1.0.0: the server keeps its files (retired) beside the tree.
    ok(publish(repo_world, tree_versions.trees[2]))
    ok(publish(repo_world, tree_versions.trees[3]))
    pulled = tmp_path / "workspace" / "repository"

    assert "pulled" in ok(repo_world.invoke("repo.pull", "--repo", str(pulled)))
    assert scan_tree(pulled).files == scan_tree(tree_versions.trees[3]).files
    again = repo_world.invoke("repo.pull", "--repo", str(pulled))
    assert again.returncode == 2 and "is not empty: pull only into a missing" in again.stderr
    assert "(unchanged)" in ok(publish(repo_world, pulled))

    options = RepoOptions(project=PROJECT, origin="Example", label="Demo")
    add_packages(build_set(nfpm, "1.4.0"), pulled, "stable", options, signer)
    ok(publish(repo_world, pulled))
    assert_serves(repo_world, pulled)
    assert (
        "demo_1.4.0-1_amd64.deb"
        in (
            web_root(repo_world) / "current/deb/dists/stable/main/binary-amd64/Packages"
        ).read_text()
    )


def test_a_rollback_keeps_serving_the_environments_page(
    repo_world: SandboxWorld, tree_versions: TreeVersions
) -> None:
    repo_world.data["publish"][0]["environments_page"] = "environments.html"
    repo_world.rewrite()
    first, second = tree_versions.trees[:2]
    ok(publish(repo_world, first, "--tag", "v1.0.0"))
    ok(publish(repo_world, second, "--tag", "v1.1.0"))
    (target,) = resolve_targets(with_publish_access(repo_world.inventory))
    url = target.publish_page(b"<p>what runs where</p>", run_id="r1", lock_wait=5, say=print)
    assert "-1.0.0" in ok(repo_world.invoke("repo.rollback"))
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == b"<p>what runs where</p>"
