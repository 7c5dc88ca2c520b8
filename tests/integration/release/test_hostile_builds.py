"""Releases whose build host is hostile: nothing it sends back may reach the orchestrator.

The hostile code is part of the tag (``evil/`` beside ``build.sh``), as it would be when
whoever can push a tag controls the build script. Every case fails its release with exit
1 and a message naming the cause, publishes nothing, leaves no droplet, and leaves the
served repository, the local tree and everything outside the tool's directories as they
were.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from orchestrator.sandbox import reposerver
from orchestrator.sandbox.example import init_example_repository
from tests.integration.conftest import ROOT, SandboxWorld

pytestmark = pytest.mark.integration

HOSTILE = ROOT / "tests" / "hostile"
BUILD = "./build.sh {{ format }} {{ arch }} {{ version }}"
EVIL_TAG = "v2.0.0"
MiB = 1 << 20


def tag_hostile_source(world: SandboxWorld) -> None:
    """Add ``evil/`` to the source repository and tag it EVIL_TAG."""
    source = world.directory / "source"
    shutil.copytree(HOSTILE, source / "evil", ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        "GIT_AUTHOR_NAME": "Mallory",
        "GIT_AUTHOR_EMAIL": "mallory@example.org",
        "GIT_COMMITTER_NAME": "Mallory",
        "GIT_COMMITTER_EMAIL": "mallory@example.org",
        "PATH": "/usr/bin:/bin",
        "HOME": str(source),
    }
    for args in (["add", "-A"], ["commit", "-q", "-m", "evil"], ["tag", EVIL_TAG]):
        subprocess.run(["git", "-C", str(source), *args], check=True, env=env)


@pytest.fixture
def world(sandbox_world: SandboxWorld) -> SandboxWorld:
    init_example_repository(
        ROOT / "examples" / "hello", sandbox_world.directory / "source", ["v1.2.3"]
    )
    tag_hostile_source(sandbox_world)
    sandbox_world.data["workspace"] = str(sandbox_world.directory / "workspace")
    sandbox_world.rewrite()
    return sandbox_world


def set_target(world: SandboxWorld, command: str, limits: dict[str, int] | None = None) -> None:
    """amd64-deb runs ``command``; the other targets build normally."""
    for target in world.data["targets"]:
        target["command"] = command if target["name"] == "amd64-deb" else BUILD
        target.pop("limits", None)
        if limits and target["name"] == "amd64-deb":
            target["limits"] = limits
    world.inventory_path.write_text(yaml.safe_dump(world.data))


def only_hostile_target(world: SandboxWorld) -> None:
    """Keep amd64-deb alone: a dozen releases of four targets would near the rate limit."""
    data = {**world.data, "targets": [t for t in world.data["targets"] if t["name"] == "amd64-deb"]}
    world.inventory_path.write_text(yaml.safe_dump(data))


def digests(root: Path) -> dict[str, str]:
    """Every file under ``root`` (symlinks as their target) with its SHA-256."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_symlink():
            found[relative] = "-> " + os.readlink(path)
        elif path.is_file():
            found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def run_bytes(world: SandboxWorld) -> int:
    """What the run directories hold (du walks names longer than PATH_MAX, pathlib does not)."""
    runs = world.directory / "workspace" / ".orchestrator" / "runs"
    usage = subprocess.run(["du", "-sb", str(runs)], capture_output=True, text=True, check=True)
    return int(usage.stdout.split()[0])


def cases(outside: Path) -> Iterator[tuple[str, str, dict[str, int] | None, str]]:
    """(case, amd64-deb's command, its limits, what the error must say)."""
    victim = outside / "victim"

    def bundle(mode: str, arg: str = "") -> str:
        return f"{BUILD} && sh evil/install.sh {mode} {arg}"

    yield "cve-2025-4517", bundle("cve", str(victim)), None, "is a symbolic link"
    yield "symlink", bundle("symlink"), None, "dist/hello.deb is a symbolic link"
    yield "hardlink", bundle("hardlink"), None, "dist/hello.deb is a hard link"
    yield "device", bundle("device"), None, "dist/hello.deb is a block device"
    yield "fifo", bundle("fifo"), None, "dist/hello.deb is a FIFO"
    yield "absolute", bundle("absolute", str(outside)), None, "absolute name"
    yield "dotdot", bundle("dotdot", str(outside)), None, "'..'"
    yield "duplicate", bundle("duplicate"), None, "SHA256SUMS appears twice"
    yield "long name", bundle("longname"), None, "name longer than"
    small = {"unpacked_bytes": 16 * MiB}
    yield "gzip bomb", bundle("bomb", str(1 << 30)), small, "unpacked size"
    yield "pax header bomb", bundle("pax", str(64 * MiB)), small, "unpacked size"
    yield "file count", bundle("many", "500"), {"files": 100}, "more than 100 files"
    yield (
        "packed size",
        f"{BUILD} && head -c {24 * MiB} /dev/urandom > dist/random.deb",
        {"bundle_bytes": 8 * MiB},
        "bundle is larger than",
    )
    yield (
        "undeclared package",
        f"sed -i 's/^name: hello/name: sudo/' nfpm.yaml && {BUILD}",
        None,
        "package name sudo",
    )
    yield (
        "undeclared epoch",
        f"echo 'epoch: 9' >> nfpm.yaml && {BUILD}",
        None,
        "epoch 9",
    )
    yield "wrong version", "./build.sh deb amd64 9.9.9", None, "version 9.9.9"


def test_a_hostile_build_host_changes_nothing(world: SandboxWorld) -> None:
    set_target(world, BUILD)
    first = world.invoke("release", "--tag", "v1.2.3")
    assert first.returncode == 0, first.stdout + first.stderr
    served = reposerver.directory(world.settings) / "root" / "repo"
    local = world.directory / "workspace" / ".orchestrator" / "repository"
    served_before, local_before = digests(served), digests(local)
    outside = world.directory / "outside"
    outside.mkdir()
    (outside / "victim").write_text("original\n")

    failures = []
    for name, command, limits, expected in cases(outside):
        set_target(world, command, limits)
        only_hostile_target(world)
        result = world.invoke("release", "--tag", EVIL_TAG)
        output = result.stdout + result.stderr
        problems = []
        if result.returncode != 1:
            problems.append(f"exit {result.returncode}")
        if expected not in output:
            problems.append(f"no {expected!r} in the output")
        if "Traceback" in output:
            problems.append("a traceback")
        if digests(served) != served_before or digests(local) != local_before:
            problems.append("the repository changed")
        if sorted(p.name for p in outside.iterdir()) != ["victim"]:
            problems.append(f"outside now holds {sorted(p.name for p in outside.iterdir())}")
        if (outside / "victim").read_text() != "original\n":
            problems.append("the victim file was overwritten")
        if run_bytes(world) > 64 * MiB:
            problems.append(f"the run directories hold {run_bytes(world) // MiB} MiB")
        try:
            world.assert_no_droplets()
        except Exception as error:  # one case's leftovers must not hide the other cases
            problems.append(f"droplets left or unreadable: {error}")
        if problems:
            tail = " | ".join(output.strip().splitlines()[-3:])
            failures.append(f"{name}: {', '.join(problems)} [{tail}]")
    assert not failures, "\n".join(failures)


@pytest.fixture
def host_world(world: SandboxWorld) -> Iterator[tuple[SandboxWorld, Path]]:
    """The world with its sandbox state outside /tmp (droplets see /tmp as their own)."""
    outside = Path("/var/tmp/orchestrator-tests") / uuid.uuid4().hex[:12]
    outside.mkdir(parents=True)
    world.sandbox["state_dir"] = str(outside / "sandbox")
    world.rewrite()
    try:
        yield world, outside
    finally:
        from orchestrator.sandbox import control

        control.stop(world.settings)
        shutil.rmtree(outside, ignore_errors=True)


def test_a_sandbox_droplet_cannot_touch_the_host(
    host_world: tuple[SandboxWorld, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, outside = host_world
    victim = outside / "victim"
    victim.write_text("original\n")
    pwned = Path(f"/usr/local/bin/relorch-pwned-{outside.name}")
    key = outside / "sandbox" / "signing-key.asc"
    # A checkout under /tmp or /root is out of a droplet's sight: it writes its private copy.
    hidden = ROOT.parts[1] in ("tmp", "root")
    checkout_marker = "WROTE-private-copy" if hidden else "ESCAPE-wrote-checkout"
    attempts = " ; ".join(
        [
            f"touch {pwned} && echo ESCAPE-wrote-usr",
            f"echo pwned >> {victim} && echo ESCAPE-wrote-victim",
            f"echo pwned >> {ROOT / 'README.md'} && echo {checkout_marker}",
            "mount -o remount,rw / && echo ESCAPE-remounted",
            f"cat {key} > /dev/null && echo ESCAPE-read-signing-key",
            f"ls {outside / 'sandbox' / 'hosts'} && echo ESCAPE-listed-hosts",
            'test -n "$(find /dev -type b)" && echo ESCAPE-block-device',
            "grep -l canary-secret /proc/[0-9]*/environ && echo ESCAPE-read-secret",
            "echo ok > $HOME/private && echo WROTE-home",
            "echo ok > /tmp/private && echo WROTE-tmp",
        ]
    )
    set_target(world, f"{attempts} ; {BUILD}")
    monkeypatch.setenv("DIGITALOCEAN_ACCESS_TOKEN", "canary-secret-token")
    monkeypatch.setenv("ORCHESTRATOR_SIGNING_PASSPHRASE", "canary-secret-passphrase")
    readme = (ROOT / "README.md").read_bytes()
    try:
        result = world.invoke("release", "--tag", "v1.2.3")
        assert result.returncode == 0, result.stdout + result.stderr
        log = next((world.directory / "workspace" / "logs").glob("*/amd64-deb.log")).read_text()
        assert "WROTE-home" in log and "WROTE-tmp" in log, log
        assert "ESCAPE" not in log, log
        assert not pwned.exists()
        assert victim.read_text() == "original\n"
        assert (ROOT / "README.md").read_bytes() == readme
    finally:
        pwned.unlink(missing_ok=True)
        if (ROOT / "README.md").read_bytes() != readme:
            (ROOT / "README.md").write_bytes(readme)
    world.assert_no_droplets()
