"""Signals at every stage of a release, a kill -9, and two releases at once on one workspace.

Each interrupted run must exit 130 (SIGINT) or 143 (SIGTERM), leave no droplet, no lock
and no key material, leave the served repository as it was or wholly the new version, and
a plain re-run must then publish the version.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.engine.liveness import Owner, process_start_time, this_boot
from orchestrator.release.journal import read_journal
from orchestrator.repo.gpghomes import OWNER, PREFIX
from orchestrator.sandbox import hosts, processes, reposerver
from orchestrator.sandbox.example import init_example_repository
from tests.integration.conftest import ROOT, SandboxWorld

pytestmark = pytest.mark.integration

# A package with 24 MB of random bytes: collecting, indexing and publishing it take long
# enough to be interrupted in the middle.
HEAVY = (
    "mkdir -p build && head -c 24000000 /dev/urandom > build/heavy && "
    "printf '  - src: ./build/heavy\\n    dst: /usr/share/hello/heavy\\n' >> nfpm.yaml && "
    "./build.sh {{ format }} {{ arch }} {{ version }}"
)
TAGS = [f"v1.3.{n}" for n in range(8)]


@pytest.fixture
def world(sandbox_world: SandboxWorld) -> SandboxWorld:
    init_example_repository(
        ROOT / "examples" / "hello", sandbox_world.directory / "source", ["v1.2.3", *TAGS]
    )
    data = sandbox_world.data
    data["workspace"] = str(sandbox_world.directory / "workspace")
    data["targets"] = [t for t in data["targets"] if t["name"] in ("amd64-deb", "amd64-rpm")]
    for target in data["targets"]:
        target["command"] = HEAVY
    # Deleting a droplet takes a while, so the cleanup can be interrupted too.
    sandbox_world.rewrite(delete_linger=1.5, boot_delay=1.0)
    return sandbox_world


def served(world: SandboxWorld) -> dict[str, str]:
    root = reposerver.served_directory(world.settings)
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def owner_of(process: subprocess.Popen[str]) -> Owner:
    """A running process as the owner its temporary keyrings name (gpghomes.OWNER)."""
    boot = this_boot()
    started = process_start_time(process.pid)
    assert started is not None, "the process ended before it could be named"
    return Owner(boot.host, boot.boot, process.pid, started)


def keyrings_of(owner: Owner) -> set[Path]:
    """The temporary keyrings in /tmp that ``owner`` made and that are still there.

    Only its own: other runs on this machine (the suite's other workers) make and wipe
    keyrings of their own meanwhile, and every signer sweeps those of killed runs.
    """
    found = set()
    for home in Path("/tmp").glob(f"{PREFIX}*"):
        try:
            named = Owner.parse((home / OWNER).read_text(encoding="utf-8"))
        except OSError:
            continue  # wiped meanwhile
        if named == owner:
            found.add(home)
    return found


def start_release(world: SandboxWorld, tag: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", "release", "--tag", tag, "--inventory", str(world.inventory_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def journal_of(world: SandboxWorld, tag: str) -> dict[str, Any] | None:
    runs = world.directory / "workspace" / ".orchestrator" / "runs"
    found = [read_journal(p) for p in sorted(runs.glob("*/journal.json"))]
    mine = [j for j in found if j and j.get("tag") == tag]
    return mine[-1] if mine else None


def running(journal: dict[str, Any] | None, operation: str) -> bool:
    return journal is not None and any(
        op["name"] == operation and op["status"] == "running" for op in journal["operations"]
    )


def interrupt_at(
    world: SandboxWorld, tag: str, operation: str, signal_number: int
) -> tuple[int, str, dict[str, Any], Owner]:
    """Release ``tag``, signal it while ``operation`` runs; its exit, output, journal, owner."""
    process = start_release(world, tag)
    owner = owner_of(process)
    try:
        deadline = time.monotonic() + 90
        while not running(journal_of(world, tag), operation):
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.communicate()[0]
                raise AssertionError(f"{operation} never ran while watched: {output[-1500:]}")
            time.sleep(0.01)
        process.send_signal(signal_number)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    journal = journal_of(world, tag)
    assert journal is not None
    return process.returncode, output, journal, owner


@pytest.mark.timeout(900)
def test_a_signal_at_any_stage_cleans_up_and_a_re_run_publishes(world: SandboxWorld) -> None:
    first = world.invoke("release", "--tag", "v1.2.3")
    assert first.returncode == 0, first.stdout + first.stderr
    cases = [
        ("provision", signal.SIGINT),
        ("build", signal.SIGTERM),
        ("collect", signal.SIGINT),
        ("index", signal.SIGTERM),
        ("publish sandbox-repo", signal.SIGINT),
        ("destroy", signal.SIGTERM),
    ]
    failures = []
    for (operation, signal_number), tag in zip(cases, TAGS, strict=False):
        before = served(world)
        code, output, journal, owner = interrupt_at(world, tag, operation, signal_number)
        problems = []
        if code != 128 + signal_number:
            problems.append(f"exit {code}")
        if journal["status"] != "interrupted":
            problems.append(f"journal {journal['status']}")
        if "Traceback" in output:
            problems.append(f"a traceback: {output[output.index('Traceback') :][-2000:]}")
        try:
            world.assert_no_droplets()
        except AssertionError as error:
            problems.append(f"droplets left: {error}")
        if (world.directory / "workspace" / ".orchestrator" / "release.lock").exists():
            problems.append("the release lock stayed")
        if (reposerver.served_directory(world.settings).parent / ".lock").exists():
            problems.append("the publish lock stayed")
        if keyrings_of(owner):
            problems.append(f"keyrings left: {sorted(keyrings_of(owner))}")
        after = served(world)
        version = tag.removeprefix("v")
        wholly_new = any(f"hello_{version}-1_amd64.deb" in path for path in after)
        if after != before and not wholly_new:
            problems.append("the served repository changed without the new version")
        rerun = world.invoke("release", "--tag", tag)
        if rerun.returncode != 0:
            problems.append(f"the re-run failed: {rerun.stdout[-800:]}")
        elif world.invoke("verify", "--version", version).returncode != 0:
            problems.append("the re-run's version does not install")
        if problems:
            failures.append(f"{signal.Signals(signal_number).name} at {operation}: {problems}")
    assert not failures, "\n".join(failures)


@pytest.mark.timeout(600)
def test_a_kill_9_is_finished_by_teardown_and_a_re_run(world: SandboxWorld) -> None:
    process = start_release(world, "v1.2.3")
    owner = owner_of(process)
    try:
        deadline = time.monotonic() + 90
        while not running(journal_of(world, "v1.2.3"), "build"):
            assert process.poll() is None and time.monotonic() < deadline, "no build started"
            time.sleep(0.01)
        # Read while the run lives: no sweep takes the keyring of a live run.
        homes = keyrings_of(owner)
        process.kill()
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    journal = journal_of(world, "v1.2.3")
    assert journal is not None and journal["status"] == "running"
    assert (world.directory / "workspace" / ".orchestrator" / "release.lock").exists()
    assert homes, "the run held no keyring when it was killed"

    teardown = world.invoke("teardown", "--run-id", journal["run_id"])
    assert teardown.returncode == 0, teardown.stderr
    assert "destroyed relorch-hello-" in teardown.stdout
    world.assert_no_droplets()
    # Its keyrings are gone. Every signer that opens sweeps the keyrings of killed runs,
    # so with other runs on this machine, another may have wiped them before teardown.
    assert keyrings_of(owner) == set()

    # The lock of a run that is gone is broken; the tag is released in full.
    rerun = world.invoke("release", "--tag", "v1.2.3", "--json")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert json.loads(rerun.stdout)["status"] == "published"
    assert "breaking the lock" in rerun.stderr + rerun.stdout
    assert world.invoke("verify", "--version", "1.2.3").returncode == 0


@pytest.mark.timeout(600)
def test_two_releases_at_once_take_turns_on_one_workspace(world: SandboxWorld) -> None:
    for target in world.data["targets"]:
        target["command"] = "./build.sh {{ format }} {{ arch }} {{ version }}"
    world.inventory_path.write_text(yaml.safe_dump(world.data))
    first, second = start_release(world, "v1.3.0"), start_release(world, "v1.3.1")
    outputs = [process.communicate(timeout=300)[0] for process in (first, second)]
    assert first.returncode == second.returncode == 0, "\n=====\n".join(o[-3000:] for o in outputs)
    journals = [j for j in (journal_of(world, tag) for tag in ("v1.3.0", "v1.3.1")) if j]
    assert len(journals) == 2
    earlier, later = sorted(journals, key=lambda j: float(j["finished_at"]))
    # The later run created no droplet before the earlier one had finished.
    assert min(d["created_at"] for d in later["droplets"].values()) >= earlier["finished_at"]
    assert any("waiting up to" in output for output in outputs)
    for version in ("1.3.0", "1.3.1"):
        assert world.invoke("verify", "--version", version).returncode == 0
    world.assert_no_droplets()


@pytest.mark.timeout(300)
def test_a_cloud_that_will_not_delete_is_reported_with_the_way_out(world: SandboxWorld) -> None:
    for target in world.data["targets"]:
        target["command"] = "./build.sh {{ format }} {{ arch }} {{ version }}"
    world.data["cloud"]["destroy_timeout"] = 4
    world.rewrite(
        faults=[
            {"kind": "server_error", "method": "DELETE", "path": "^/v2/droplets", "times": 10000}
        ]
    )
    started = time.monotonic()
    result = world.invoke("release", "--tag", "v1.2.3", "--json")
    assert time.monotonic() - started < 90, "the cleanup did not keep to its deadline"
    assert result.returncode == 1, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "published"  # the release stands; the droplets do too
    (alive,) = [m for m in summary["messages"] if m.startswith("droplets still alive")]
    assert f"invoke teardown --run-id {summary['run_id']}" in alive
    assert "relorch-hello-amd64-deb-" in alive and "relorch-hello-amd64-rpm-" in alive
    assert "relorch-hello-tests-" in alive  # the tests' droplet would not go either

    world.rewrite(faults=[])
    teardown = world.invoke("teardown", "--run-id", summary["run_id"])
    assert teardown.returncode == 0 and teardown.stdout.count("destroyed ") == 3
    world.assert_no_droplets()


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rfind(")") + 2 :].split()[1])


def stall_the_upload(world: SandboxWorld, release: subprocess.Popen[str]) -> list[int]:
    """Stop the repo server's receiving tar and its SSH session, the moment tar starts."""
    directory = reposerver.directory(world.settings)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and release.poll() is None:
        for pid in hosts.host_processes(directory):
            if processes.cmdline(pid).startswith("tar -x"):
                stopped = [pid]
                # Up through the shell to the session's sshd (not the listening one).
                while not processes.cmdline(stopped[-1]).startswith("sshd: "):
                    stopped.append(_parent(stopped[-1]))
                for each in stopped:
                    os.kill(each, signal.SIGSTOP)
                return stopped
        time.sleep(0.005)
    raise AssertionError("the upload never started")


@pytest.mark.timeout(600)
def test_a_signal_during_a_stalled_upload_is_answered_in_seconds(world: SandboxWorld) -> None:
    # Enough to fill the SSH window many times over once the server stops reading.
    for target in world.data["targets"]:
        target["command"] = HEAVY.replace("24000000", "96000000")
    world.rewrite()
    release = start_release(world, "v1.3.0")
    stopped: list[int] = []
    try:
        stopped = stall_the_upload(world, release)
        time.sleep(2)  # the client now waits on a server that reads nothing
        signalled = time.monotonic()
        release.send_signal(signal.SIGINT)
        output, _ = release.communicate(timeout=60)
        answered = time.monotonic() - signalled
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        if release.poll() is None:
            release.kill()
            release.wait()
    assert release.returncode == 130, output[-2000:]
    assert answered < 15, f"answered after {answered:.0f}s"
    assert "Traceback" not in output and "Unexpected EOF" not in output
    journal = journal_of(world, "v1.3.0")
    assert journal is not None and journal["status"] == "interrupted"
    audit = (reposerver.served_directory(world.settings).parent / "audit.log").read_text()
    assert audit.splitlines()[-1].split("\t")[5:7] == ["interrupted", "interrupted by SIGINT"]
    assert not (reposerver.served_directory(world.settings).parent / ".lock").exists()
    world.assert_no_droplets()
    rerun = world.invoke("release", "--tag", "v1.3.0")
    assert rerun.returncode == 0, rerun.stdout[-2000:]
