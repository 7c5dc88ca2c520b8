"""The build stage on the real sandbox: parallel builds, verified artifacts, clean failures."""

from __future__ import annotations

import io
import secrets
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.cli.wiring.release import release_seams
from orchestrator.config.inventory import load_inventory
from orchestrator.engine.progress import PlainProgress
from orchestrator.engine.run_ids import new_run_id
from orchestrator.release.operations import ExportSource
from orchestrator.release.plan import make_plan
from orchestrator.release.run import run_release
from orchestrator.release.source import release_to_build
from orchestrator.release.summary import TargetSummary
from orchestrator.remote.sshkeys import generate_keypair
from orchestrator.sandbox import hosts, processes
from orchestrator.sandbox.example import init_example_repository
from orchestrator.sandbox.machines import toolchain
from tests.conftest import free_port, loopback_network
from tests.integration.conftest import ROOT, SandboxWorld

pytestmark = pytest.mark.integration

BUILD = "./build.sh {{ format }} {{ arch }} {{ version }}"


@pytest.fixture
def world(sandbox_world: SandboxWorld) -> SandboxWorld:
    init_example_repository(
        ROOT / "examples" / "hello", sandbox_world.directory / "source", ["v1.2.3"]
    )
    sandbox_world.data["workspace"] = str(sandbox_world.directory / "workspace")
    sandbox_world.data.pop("tests")  # the builds alone (tests/integration/release/test_gate.py)
    sandbox_world.rewrite()
    return sandbox_world


def build(
    world: SandboxWorld, commands: dict[str, str] | None = None, **top: Any
) -> list[TargetSummary]:
    """Run just the builds of a release: the plan's export and its targets' programs."""
    data = world.data
    for target in data["targets"]:
        target["command"] = (commands or {}).get(target["name"], BUILD)
    data.update(top)
    world.inventory_path.write_text(yaml.safe_dump(data))
    inventory = load_inventory(world.inventory_path)
    now = datetime.now(UTC)
    release, revision = release_to_build(
        inventory.project.source, tag="v1.2.3", nightly=False, ref=None, now=now
    )
    plan = make_plan(inventory, release, revision, new_run_id(now, secrets.token_hex(3)))
    builds = replace(
        plan, before=tuple(op for op in plan.before if isinstance(op, ExportSource)), after=()
    )
    summary = run_release(
        inventory, builds, release_seams(inventory), PlainProgress(io.StringIO()), say=print
    )
    return list(summary.targets)


def by_name(results: list[TargetSummary]) -> dict[str, TargetSummary]:
    return {r.name: r for r in results}


def artifact_paths(world: SandboxWorld, result: TargetSummary) -> list[Path]:
    runs = world.directory / "workspace" / ".orchestrator" / "runs"
    (artifacts,) = runs.glob(f"*/artifacts/{result.name}")
    return [artifacts / name for name in result.artifacts]


def test_four_targets_build_in_parallel_and_verify(world: SandboxWorld) -> None:
    results = build(
        world,
        {t: f"sleep 1 && {BUILD}" for t in ("amd64-deb", "arm64-deb", "amd64-rpm", "arm64-rpm")},
    )
    assert [r.status for r in results] == ["succeeded"] * 4, [r.error for r in results]
    names = {r.name: list(r.artifacts) for r in results}
    assert names == {
        "amd64-deb": ["dist/hello_1.2.3-1_amd64.deb"],
        "arm64-deb": ["dist/hello_1.2.3-1_arm64.deb"],
        "amd64-rpm": ["dist/hello-1.2.3-1.x86_64.rpm"],
        "arm64-rpm": ["dist/hello-1.2.3-1.aarch64.rpm"],
    }
    builds = [r.spans["build"] for r in results]
    assert max(start for start, _ in builds) < min(end for _, end in builds), (
        "builds did not overlap"
    )
    for result in results:
        assert result.log is not None and "created package" in Path(result.log).read_text()
        assert result.droplet_seconds > 0
        assert all(path.is_file() for path in artifact_paths(world, result))
    world.assert_no_droplets()


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("echo the compiler broke >&2; exit 3", "amd64-deb: build failed with exit code 3"),
        (
            "./build.sh deb amd64 9.9.9",
            "amd64-deb: dist/hello_9.9.9-1_amd64.deb has version 9.9.9, but the release is 1.2.3",
        ),
        (
            "./build.sh deb arm64 {{ version }}",
            "amd64-deb: dist/hello_1.2.3-1_arm64.deb is built for architecture arm64, but the target is amd64",
        ),
        (
            # A host that lies about checksums: its login shell reads ~/.bashrc, which the
            # build poisons so the collect step reports wrong digests.
            BUILD
            + " && printf '%s\\n' 'sha256sum() { command sha256sum \"$@\" | sed -E \"s/^[0-9a-f]{8}/00000000/\"; }'"
            " 'export -f sha256sum' >> ~/.bashrc",
            "amd64-deb: checksum mismatch for dist/hello_1.2.3-1_amd64.deb",
        ),
        (
            "true",
            "amd64-deb: collect failed (exit 3): no file matches the artifact globs: dist/*.deb",
        ),
    ],
    ids=["failing-build", "wrong-version", "wrong-arch", "corrupt-artifact", "no-artifact"],
)
def test_a_bad_target_fails_clearly_stops_the_others_and_leaves_nothing(
    world: SandboxWorld, command: str, message: str
) -> None:
    slow = f"sleep 60; {BUILD}"
    started = time.monotonic()
    results = by_name(
        build(
            world, {"amd64-deb": command, "arm64-deb": slow, "amd64-rpm": slow, "arm64-rpm": slow}
        )
    )
    failed = results.pop("amd64-deb")
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.startswith(message), failed.error
    assert {r.status for r in results.values()} == {"cancelled"}
    assert time.monotonic() - started < 30, "fail_fast did not stop the slow builds"
    world.assert_no_droplets()


def test_failing_build_shows_the_last_lines_of_its_log(world: SandboxWorld) -> None:
    command = "for i in $(seq 1 50); do echo line $i; done; exit 1"
    failed = by_name(build(world, {"amd64-deb": command}))["amd64-deb"]
    assert failed.log_tail[-1] == "line 50" and "line 1" not in failed.log_tail
    assert failed.log is not None and "line 1\n" in Path(failed.log).read_text()


def test_a_host_presenting_another_host_key_is_refused(world: SandboxWorld) -> None:
    world.rewrite(faults=[{"kind": "foreign_host_key", "name": "amd64-rpm"}])
    results = by_name(build(world))
    error = results["amd64-rpm"].error
    assert results["amd64-rpm"].status == "failed"
    assert error is not None and error.startswith("amd64-rpm:") and "host key mismatch" in error
    world.assert_no_droplets()


@pytest.fixture
def static_host(world: SandboxWorld) -> Iterator[tuple[SandboxWorld, Path]]:
    directory = world.directory / "static-host"
    host_key = generate_keypair()
    client_key = generate_keypair()
    key_file = world.directory / "client_key"
    key_file.write_text(client_key.private_openssh)
    key_file.chmod(0o600)
    address = f"{loopback_network(100, 199)}.{secrets.randbelow(200) + 2}"
    shared, path = toolchain()
    spec = hosts.HostSpec(
        directory,
        address,
        free_port(),
        host_key.private_openssh,
        (client_key.public_line,),
        shared,
        path,
    )
    hosts.start_host(spec)
    world.data["cloud"] = {
        "provider": "static",
        "hosts": [
            {
                "name": "builder",
                "address": address,
                "port": spec.port,
                "host_key": host_key.public_line,
                "identity_file": str(key_file),
            }
        ],
    }
    for target in world.data["targets"]:
        target["host"] = "builder"
    try:
        yield world, directory
    finally:
        hosts.destroy_host(directory)


def host_commands(directory: Path) -> list[str]:
    return [processes.cmdline(pid) for pid in hosts.host_processes(directory)]


def test_static_host_builds_over_pinned_ssh_and_cleans_up(
    static_host: tuple[SandboxWorld, Path],
) -> None:
    world, directory = static_host
    results = build(world)
    assert [r.status for r in results] == ["succeeded"] * 4, [r.error for r in results]
    assert not any((directory / "root" / ".relorch").glob("*/*")), "work directories left behind"


def test_static_host_with_another_key_is_refused(static_host: tuple[SandboxWorld, Path]) -> None:
    world, _ = static_host
    world.data["cloud"]["hosts"][0]["host_key"] = generate_keypair().public_line
    results = build(world)
    assert all(r.status in ("failed", "cancelled") for r in results)
    assert any(r.error and "host key mismatch" in r.error for r in results)


def test_static_host_builds_do_not_outlive_their_session(
    static_host: tuple[SandboxWorld, Path],
) -> None:
    world, directory = static_host
    results = by_name(
        build(
            world,
            {"amd64-deb": "sleep 2; exit 1", "arm64-deb": "sleep 617", "amd64-rpm": "sleep 618"},
        )
    )
    assert results["amd64-deb"].status == "failed"
    assert results["arm64-deb"].status == results["amd64-rpm"].status == "cancelled"
    deadline = time.monotonic() + 10
    while any("sleep 61" in c for c in host_commands(directory)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any("sleep 61" in c for c in host_commands(directory)), host_commands(directory)


def test_a_build_past_its_timeout_is_killed(static_host: tuple[SandboxWorld, Path]) -> None:
    world, directory = static_host
    world.data["targets"] = world.data["targets"][:1]
    world.data["targets"][0]["timeout"] = 2
    result = build(world, {"amd64-deb": "sleep 619"})[0]
    assert (
        result.status == "failed" and result.error == "amd64-deb: build exceeded its timeout of 2s"
    )
    deadline = time.monotonic() + 15
    while any("sleep 619" in c for c in host_commands(directory)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any("sleep 619" in c for c in host_commands(directory))


# 50 MB of lines, then 10 MB without a newline: minutes through invoke's Runner before.
FLOOD = (
    "head -c 37500000 /dev/zero | base64 -w 76; head -c 10000000 /dev/zero | tr '\\0' x; "
    "echo; echo last line"
)


@pytest.mark.timeout(240)
def test_a_flood_of_output_streams_through_and_the_log_has_a_limit(world: SandboxWorld) -> None:
    world.data["targets"] = world.data["targets"][:2]
    world.data["targets"][1]["limits"] = {"log_bytes": "1M"}
    # Without fail_fast: the failing flood must not cancel the whole one (a race, before).
    results = by_name(
        build(
            world,
            {"amd64-deb": f"{FLOOD}; {BUILD}", "arm64-deb": f"{FLOOD}; exit 5"},
            fail_fast=False,
        )
    )
    whole, limited = results["amd64-deb"], results["arm64-deb"]
    assert whole.status == "succeeded", whole.error
    assert whole.log is not None and Path(whole.log).stat().st_size > 60_000_000
    assert (
        Path(whole.log)
        .read_text()
        .rstrip()
        .endswith("created package: dist/hello_1.2.3-1_amd64.deb")
    )
    assert limited.status == "failed" and limited.log is not None
    log = Path(limited.log).read_text()
    assert len(log) < (1 << 20) + 200 and log.endswith(
        "[log stops here: more than 1048576 bytes of output]\n"
    )
    # The tail comes from the stream, not the log: bounded, and the end of the output.
    assert limited.log_tail[-1] == "last line"
    assert all(len(line) <= 1000 for line in limited.log_tail)
    world.assert_no_droplets()
