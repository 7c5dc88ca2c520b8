"""The whole release, through the in-memory seams: the executor, the handlers, the summary."""

from __future__ import annotations

import io
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config.inventory import Inventory, parse_inventory
from orchestrator.engine.interrupts import handling_interrupts
from orchestrator.engine.progress import PlainProgress
from orchestrator.errors import SigningError
from orchestrator.publish.manifest import FileInfo, Manifest
from orchestrator.release.handlers.context import RunPaths
from orchestrator.release.handlers.publish import serves
from orchestrator.release.journal import read_journal
from orchestrator.release.plan import Plan, make_plan
from orchestrator.release.run import ReleaseOptions, run_release
from orchestrator.release.summary import RunSummary
from orchestrator.repo.signing import SigningKey
from orchestrator.testing.hosts import BuildContext, BuildResult, FakeBuildHosts, deb_build
from orchestrator.testing.publish import MemoryTarget
from orchestrator.testing.seams import fake_seams
from orchestrator.testing.signing import FakeSigner
from orchestrator.version import Revision, parse_tag

COMMIT = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"
RUN_IDS = iter(f"20261122t1030{n:02d}-a1b2c3" for n in range(60))
TARGET = """
  - name: {arch}-deb
    arch: {arch}
    format: deb
    command: ./build.sh
    artifacts: ["dist/*.deb"]
"""


def inventory(tmp_path: Path, publish: tuple[str, ...] = ("memory",)) -> Inventory:
    targets = "".join(TARGET.format(arch=arch) for arch in ("amd64", "arm64"))
    entries = "".join(
        f"  - {{kind: s3, name: {name}, bucket: b, url: 'http://127.0.0.1:9/{name}'}}\n"
        for name in publish
    )
    text = (
        "project: {name: hello, source: src, maintainer: M <m@example.org>}\n"
        "cloud: {provider: digitalocean}\n"
        f"targets:{targets}"
        "signing: {fingerprint: 0123456789ABCDEF0123456789ABCDEF01234567}\n"
        "repositories: {base_url: 'http://127.0.0.1:9/memory'}\n"
        f"publish:\n{entries}"
    )
    return parse_inventory(text, tmp_path / "inventory.yaml")


def plan_of(loaded: Inventory, tag: str = "v1.2.3") -> Plan:
    return make_plan(loaded, parse_tag(tag), Revision(tag, COMMIT), next(RUN_IDS))


def release(
    loaded: Inventory,
    hosts: FakeBuildHosts,
    targets: list[MemoryTarget],
    *,
    tag: str = "v1.2.3",
    options: ReleaseOptions | None = None,
    signer: FakeSigner | None = None,
) -> RunSummary:
    return run_release(
        loaded,
        plan_of(loaded, tag),
        fake_seams(hosts, targets, signer),
        PlainProgress(io.StringIO()),
        options=options,
        say=lambda _line: None,
    )


def tree_files(loaded: Inventory) -> set[str]:
    root = loaded.workspace / ".orchestrator" / "repository"
    return {
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".state" not in p.parts
    }


def test_a_release_builds_publishes_and_lets_every_machine_go(tmp_path: Path) -> None:
    loaded, hosts, target = inventory(tmp_path), FakeBuildHosts(), MemoryTarget()
    summary = release(loaded, hosts, [target])
    assert (summary.status, summary.exit_code) == ("published", 0), summary.messages
    assert [t.status for t in summary.targets] == ["succeeded", "succeeded"]
    assert {"deb/pool/main/h/hello/hello_1.2.3-1_amd64.deb", "deb/dists/stable/InRelease"} <= set(
        target.files
    )
    assert hosts.alive == set() and sorted(hosts.released) == sorted(hosts.sessions)
    assert all(session.closed for session in hosts.sessions.values())
    # Every operation ran, run-wide ones too, and the journal has each.
    assert list(summary.spans) == [
        "lock", "signing-key", "publish-check", "export", "index", "publish memory", "cleanup"
    ]  # fmt: skip
    assert list(summary.targets[0].spans) == [
        "provision", "prepare", "upload", "unpack", "build", "collect", "fetch", "destroy"
    ]  # fmt: skip
    journal = read_journal(RunPaths(loaded.workspace, summary.run_id).run_dir / "journal.json")
    assert journal is not None and journal["status"] == "published"
    assert {op["status"] for op in journal["operations"]} == {"done"}
    assert not (loaded.workspace / ".orchestrator" / "release.lock").exists()
    assert "deb/pool/main/h/hello/hello_1.2.3-1_arm64.deb" in tree_files(loaded)

    again = release(loaded, FakeBuildHosts(), [target])
    assert again.status == "already-published" and again.exit_code == 0
    assert again.targets == () and target.publishes == 1


def test_a_failed_target_stops_the_others_and_changes_nothing(tmp_path: Path) -> None:
    started = threading.Event()

    def build(context: BuildContext) -> BuildResult:
        if context.target == "amd64-deb":
            started.wait(5)
            return BuildResult(2, b"the compiler broke\n")
        started.set()
        context.hung_up.wait(5)  # until the failure hangs it up
        return deb_build(context)

    loaded, hosts, target = inventory(tmp_path), FakeBuildHosts(build), MemoryTarget()
    summary = release(loaded, hosts, [target])
    assert (summary.status, summary.exit_code) == ("failed", 1)
    statuses = {t.name: (t.status, t.error) for t in summary.targets}
    assert statuses["amd64-deb"] == ("failed", "amd64-deb: build failed with exit code 2")
    assert statuses["arm64-deb"][0] == "cancelled"
    assert summary.targets[0].log_tail == ("the compiler broke",)
    assert target.files == {} and tree_files(loaded) == set()
    assert hosts.alive == set()


def test_an_interrupt_cleans_up_and_a_resume_reuses_what_was_verified(tmp_path: Path) -> None:
    def build(context: BuildContext) -> BuildResult:
        if context.target == "arm64-deb":
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while this target builds
            context.hung_up.wait(5)
        return deb_build(context)

    loaded, target = inventory(tmp_path), MemoryTarget()
    first_hosts = FakeBuildHosts(build)
    with handling_interrupts() as interrupts:
        summary = run_release(
            loaded, plan_of(loaded), fake_seams(first_hosts, [target]),
            PlainProgress(io.StringIO()), interrupts=interrupts, say=lambda _line: None,
        )  # fmt: skip
    assert (summary.status, summary.exit_code) == ("interrupted", 130)
    assert first_hosts.alive == set() and target.files == {} and tree_files(loaded) == set()
    assert not (loaded.workspace / ".orchestrator" / "release.lock").exists()
    journal = read_journal(RunPaths(loaded.workspace, summary.run_id).run_dir / "journal.json")
    assert journal is not None and journal["status"] == "interrupted"

    verified = {t.name for t in summary.targets if t.status == "succeeded"}
    resumed = release(loaded, FakeBuildHosts(), [target], options=ReleaseOptions(resume=True))
    assert resumed.status == "published", resumed.messages
    assert {t.name for t in resumed.targets if t.status == "reused"} == verified


def test_a_signal_during_the_keyring_wipe_waits_for_the_wipe(tmp_path: Path) -> None:
    wiped = []

    @contextmanager
    def signing_key() -> Iterator[SigningKey]:
        try:
            yield FakeSigner()
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the keyring is wiped
            wiped.append("the key")

    loaded, hosts = inventory(tmp_path), FakeBuildHosts()
    seams = replace(fake_seams(hosts, [MemoryTarget()]), signing_key=signing_key)
    with handling_interrupts() as interrupts:
        summary = run_release(
            loaded, plan_of(loaded), seams, PlainProgress(io.StringIO()),
            interrupts=interrupts, say=lambda _line: None,
        )  # fmt: skip
    assert wiped == ["the key"]  # the wipe finished; then the signal counted
    assert (summary.status, summary.exit_code) == ("interrupted", 130)
    assert hosts.alive == set()
    assert not (loaded.workspace / ".orchestrator" / "release.lock").exists()


def test_a_cleanup_step_that_fails_after_a_signal_is_reported_not_raised(tmp_path: Path) -> None:
    # SIGTERM while the tree is indexed: closing the signer then fails (its rpmsign was
    # stopped mid-way). The run is still interrupted, says why, and the lock is let go.
    @contextmanager
    def signing_key() -> Iterator[SigningKey]:
        yield FakeSigner()
        raise SigningError("gpg failed to sign the data: the agent went away")

    def build(context: BuildContext) -> BuildResult:
        if context.target == "arm64-deb":
            os.kill(os.getpid(), signal.SIGTERM)
            context.hung_up.wait(5)
        return deb_build(context)

    loaded, hosts = inventory(tmp_path), FakeBuildHosts(build)
    seams = replace(fake_seams(hosts, [MemoryTarget()]), signing_key=signing_key)
    with handling_interrupts() as interrupts:
        summary = run_release(
            loaded, plan_of(loaded), seams, PlainProgress(io.StringIO()),
            interrupts=interrupts, say=lambda _line: None,
        )  # fmt: skip
    assert (summary.status, summary.exit_code) == ("interrupted", 143)
    assert any("cleanup: gpg failed to sign the data" in m for m in summary.messages), summary
    assert hosts.alive == set()
    assert not (loaded.workspace / ".orchestrator" / "release.lock").exists()


def test_a_tree_that_cannot_be_settled_still_lets_the_key_and_the_lock_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = []

    @contextmanager
    def signing_key() -> Iterator[SigningKey]:
        yield FakeSigner()
        closed.append("the key")

    def unsettled(_context: object) -> str:
        raise OSError(39, "Directory not empty")

    monkeypatch.setattr("orchestrator.release.handlers.repo.settle_tree", unsettled)
    loaded, hosts = inventory(tmp_path), FakeBuildHosts()
    seams = replace(fake_seams(hosts, [MemoryTarget()]), signing_key=signing_key)
    summary = release_with(loaded, seams)
    assert summary.exit_code == 1 and closed == ["the key"] and hosts.alive == set()
    assert any("cleanup: OSError: [Errno 39] Directory not empty" in m for m in summary.messages)
    assert not (loaded.workspace / ".orchestrator" / "release.lock").exists()


def release_with(loaded: Inventory, seams: Any) -> RunSummary:
    return run_release(
        loaded, plan_of(loaded), seams, PlainProgress(io.StringIO()), say=lambda _line: None
    )


def test_a_machine_the_cloud_keeps_is_named_and_its_artifacts_kept(tmp_path: Path) -> None:
    loaded = inventory(tmp_path)
    plan = plan_of(loaded)
    stuck = plan.targets[0].machine.name
    hosts = FakeBuildHosts(undeletable=[stuck])
    summary = run_release(
        loaded, plan, fake_seams(hosts, [MemoryTarget()]), PlainProgress(io.StringIO()),
        say=lambda _line: None,
    )  # fmt: skip
    # The release stands; the machine is named with the command that finishes the job.
    assert (summary.status, summary.exit_code) == ("published", 1)
    (alive,) = [m for m in summary.messages if m.startswith("droplets still alive")]
    assert stuck in alive and "500" in alive
    assert f"invoke teardown --run-id {summary.run_id}" in alive
    assert hosts.alive == {stuck}
    # Its cost goes on while it lives: the cost line counts it to the run's end.
    (kept,) = [t for t in summary.targets if t.name == plan.targets[0].name]
    assert kept.droplet_seconds > 0
    journal = read_journal(RunPaths(loaded.workspace, summary.run_id).run_dir / "journal.json")
    assert journal is not None
    verified = journal["targets"][plan.targets[0].name]
    assert verified["status"] == "verified" and verified["artifacts"]


def test_a_tree_that_lacks_published_packages_builds_nothing(tmp_path: Path) -> None:
    loaded, target = inventory(tmp_path), MemoryTarget()
    assert release(loaded, FakeBuildHosts(), [target]).status == "published"
    lost = next((loaded.workspace / ".orchestrator" / "repository" / "deb").rglob("*_amd64.deb"))
    lost.unlink()
    hosts = FakeBuildHosts()
    summary = release(loaded, hosts, [target], tag="v1.2.4")
    assert summary.status == "failed" and "lacks 1 package(s)" in summary.messages[0]
    assert hosts.sessions == {} and summary.targets == ()


def test_a_refused_publish_leaves_the_local_tree_as_it_was(tmp_path: Path) -> None:
    loaded = inventory(tmp_path, ("good", "bad"))
    good, bad = MemoryTarget("good"), MemoryTarget("bad", refuse="disk full")
    summary = release(loaded, FakeBuildHosts(), [good, bad])
    # One target got it: the tree holds what it serves; the run fails for the other.
    assert summary.status == "failed" and any("disk full" in m for m in summary.messages)
    assert good.files and not bad.files and tree_files(loaded)

    bad.refuse = None
    retried = release(loaded, FakeBuildHosts(), [good, bad])
    assert retried.status == "published" and retried.targets == ()  # published, not rebuilt
    assert bad.files == good.files

    nothing = MemoryTarget("good", refuse="down")
    fresh = inventory(tmp_path / "fresh", ("good",))
    assert release(fresh, FakeBuildHosts(), [nothing]).status == "failed"
    assert tree_files(fresh) == set()  # indexed, never served: thrown away


def test_the_account_limit_is_checked_before_any_machine(tmp_path: Path) -> None:
    hosts = FakeBuildHosts(capacity=1)
    summary = release(inventory(tmp_path), hosts, [MemoryTarget()])
    assert summary.status == "failed" and hosts.sessions == {}
    assert any("droplet limit is 1" in (t.error or "") for t in summary.targets)


def test_a_key_that_cannot_sign_stops_the_run_first(tmp_path: Path) -> None:
    hosts = FakeBuildHosts()
    summary = release(inventory(tmp_path), hosts, [MemoryTarget()], signer=FakeSigner(broken=True))
    assert summary.status == "failed" and "bad passphrase" in summary.messages[0]
    assert hosts.sessions == {}


@pytest.mark.parametrize(
    ("path", "served"),
    [
        ("deb/pool/main/h/hello/hello_1.2.3-1_amd64.deb", True),
        ("deb/pool/main/h/hello/hello_1.2.3_amd64.deb", True),
        ("deb/pool/main/h/hello/hello_1.2.3-1_all.deb", True),
        ("deb/pool/main/h/hello/hello_1.2.30-1_amd64.deb", False),
        ("deb/pool/main/h/hello/hello_1.2.3-1_arm64.deb", False),
    ],
)
def test_what_serves_a_version(tmp_path: Path, path: str, served: bool) -> None:
    plan = plan_of(inventory(tmp_path))
    one = replace(plan, targets=plan.targets[:1])
    assert serves(Manifest({path: FileInfo(1, "0" * 64)}), one) is served
