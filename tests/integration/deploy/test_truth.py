"""A deploy's account of what runs where stays true through a signal during a health check,
a host whose SSH dies after its install, and the mixed environment that leaves.

One world of real sandbox servers for the module: dev (1 host) and staging (2 hosts).
After each case, ``env.status`` agrees with the hosts' own dpkg, the lock is free, and a
plain deploy converges every host.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator.sandbox import processes, servers
from orchestrator.sandbox.servers import server_root
from tests.conftest import git, new_test_directory
from tests.integration.conftest import ROOT, SandboxWorld, ok, sandbox_inventory, world_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def world() -> Iterator[SandboxWorld]:
    directory = new_test_directory()
    data, sandbox = sandbox_inventory(directory, servers=True)
    data["environments"] = [e for e in data["environments"] if e["name"] in ("dev", "staging")]
    data["targets"] = [t for t in data["targets"] if t["name"] == "amd64-deb"]
    with world_of(directory, data, sandbox) as world:
        ok(world.invoke("example.init", "--tag", "v1.2.3", "--broken", "v1.2.9"))
        ok(world.invoke("release", "--tag", "v1.2.3"))
        ok(world.invoke("promote", "--to", "staging"))
        ok(world.invoke("release", "--tag", "v1.2.9", "--no-deploy"))
        yield world


def dpkg_version(world: SandboxWorld, host: str) -> str | None:
    """What the host's own dpkg says of hello, read from its root."""
    status = (server_root(world.settings, host) / "var/lib/dpkg/status").read_text()
    for paragraph in status.split("\n\n"):
        if re.search(r"^Package: hello$", paragraph, re.M) and "install ok installed" in paragraph:
            match = re.search(r"^Version: (\S+)$", paragraph, re.M)
            return match[1].rsplit("-", 1)[0] if match else None
    return None


def records(world: SandboxWorld, host: str) -> list[dict[str, Any]]:
    path = server_root(world.settings, host) / "var/lib/relorch/deploys.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_the_account_is_true(world: SandboxWorld, *hosts: str) -> None:
    """env.status says what each host's dpkg says, and no lock is left."""
    views = {v["environment"]: v for v in json.loads(ok(world.invoke("env.status", "--json")))}
    for view in views.values():
        for name, host in view["hosts"].items():
            assert host["installed"] == dpkg_version(world, name), (name, host)
        assert view["lock"] is None, view
    for host in hosts:
        assert not list((server_root(world.settings, host) / "var/lib/relorch/locks").glob("*/*"))


def start(world: SandboxWorld, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", *args, "--inventory", str(world.inventory_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _sshd_of(world: SandboxWorld, host: str) -> tuple[list[int], list[int]]:
    """The server's listening sshd, and its sessions."""
    pids = [p for p in servers.server_pids(world.settings, host) if "sshd" in processes.cmdline(p)]
    listening = [pid for pid in pids if processes.cmdline(pid).startswith("sshd: /usr/sbin")]
    return listening, [pid for pid in pids if pid not in listening]


def test_a_host_whose_ssh_dies_after_its_install_is_named_then_converged(
    world: SandboxWorld,
) -> None:
    deploy = start(world, "deploy", "--env", "staging", "--version", "1.2.9")
    stopped: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while dpkg_version(world, "staging-1") != "1.2.9":
            assert time.monotonic() < deadline and deploy.poll() is None, "1.2.9 never installed"
            time.sleep(0.05)
        listening, sessions = _sshd_of(world, "staging-1")
        assert listening, "no listening sshd found"
        # New connections hang; the deploy's own connection ends.
        for pid in listening:
            os.kill(pid, signal.SIGSTOP)
        stopped = listening
        for pid in sessions:
            processes.kill(pid)
        output, _ = deploy.communicate(timeout=300)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        if deploy.poll() is None:
            deploy.kill()
            deploy.wait()
    assert deploy.returncode == 1, output[-3000:]
    final = output.strip().splitlines()[-1]
    # Killed as its install ended: the tool cannot know if it finished, and says so.
    assert re.search(
        r"did not go back: staging-1 \(on 1\.2\.9( or 1\.2\.3: its change did not finish)?; "
        r"its record not written\)",
        final,
    ), final
    assert "staging-2 -> 1.2.3" in final
    assert (
        dpkg_version(world, "staging-1") == "1.2.9"
        and records(world, "staging-1")[-1]["version"] != "1.2.9"
    )
    # A plain deploy puts staging-1 back on what staging's records say it runs.
    converged = ok(world.invoke("deploy", "--env", "staging"))
    assert "staging runs 1.2.3 on every host" in converged
    assert dpkg_version(world, "staging-1") == dpkg_version(world, "staging-2") == "1.2.3"
    assert "it ran 1.2.9 with no record of it" in records(world, "staging-1")[-1]["detail"]
    assert_the_account_is_true(world, "staging-1", "staging-2")
    assert "nothing to do" in ok(world.invoke("deploy", "--env", "staging"))


def test_a_signal_during_a_slow_health_check_leaves_the_version_eligible(
    world: SandboxWorld,
) -> None:
    source = world.directory / "source"
    (source / "HEALTH").write_text("slow\n")  # a release that takes 30 s to answer
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "Release v1.2.8")
    git(source, "tag", "v1.2.8")
    ok(world.invoke("release", "--tag", "v1.2.8", "--no-deploy"))
    deploy = start(world, "deploy", "--env", "dev", "--version", "1.2.8")
    try:
        deadline = time.monotonic() + 120
        while dpkg_version(world, "dev-1") != "1.2.8":
            assert time.monotonic() < deadline and deploy.poll() is None, "1.2.8 never installed"
            time.sleep(0.1)
        time.sleep(2)  # restarted, and answering nothing yet: its health check retries
        deploy.send_signal(signal.SIGINT)
        output, _ = deploy.communicate(timeout=120)
    finally:
        if deploy.poll() is None:
            deploy.kill()
            deploy.wait()
    assert deploy.returncode == 130, output[-2000:]
    last = records(world, "dev-1")[-1]
    assert (last["version"], last["result"]) == ("1.2.8", "interrupted"), last
    assert dpkg_version(world, "dev-1") == "1.2.3"
    assert_the_account_is_true(world, "dev-1")
    # Interrupted is not failed: 1.2.8 may be deployed there again.
    again = world.invoke("deploy", "--env", "dev", "--version", "1.2.8", "--dry-run")
    assert again.returncode == 0, again.stderr
    assert "planned deploy of 1.2.8 to dev" in again.stdout
