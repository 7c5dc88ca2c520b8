"""A release with tests, on fake machines: the gate passes, fails, or is skipped."""

from __future__ import annotations

import io
from pathlib import Path

from orchestrator.config.inventory import Inventory, parse_inventory
from orchestrator.engine.progress import PlainProgress
from orchestrator.release.plan import PlanOptions, make_plan
from orchestrator.release.report import render_report
from orchestrator.release.run import run_release
from orchestrator.release.summary import RunSummary, summary_text
from orchestrator.testing.hosts import BuildContext, BuildResult, FakeBuildHosts, deb_build
from orchestrator.testing.publish import MemoryTarget
from orchestrator.testing.seams import fake_seams
from orchestrator.version import Revision, parse_tag

COMMIT = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"
RUN_IDS = iter(f"20261122t1131{n:02d}-a1b2c3" for n in range(60))
TARGETS = "".join(
    f"  - {{name: {arch}-deb, arch: {arch}, format: deb, command: ./build.sh, "
    "artifacts: ['dist/*.deb']}\n"
    for arch in ("amd64", "arm64")
)


def inventory(
    tmp_path: Path, tests: str = "tests: {commands: [./test.sh], timeout: 30}\n"
) -> Inventory:
    text = (
        "project: {name: hello, source: src, maintainer: M <m@example.org>}\n"
        "cloud: {provider: digitalocean}\n"
        f"targets:\n{TARGETS}{tests}"
        "signing: {fingerprint: 0123456789ABCDEF0123456789ABCDEF01234567}\n"
        "repositories: {base_url: 'http://127.0.0.1:9/memory'}\n"
        "publish:\n  - {kind: s3, name: memory, bucket: b, url: 'http://127.0.0.1:9/memory'}\n"
    )
    return parse_inventory(text, tmp_path / "inventory.yaml")


def release(
    loaded: Inventory, hosts: FakeBuildHosts, target: MemoryTarget, *, skip_tests: bool = False
) -> RunSummary:
    plan = make_plan(
        loaded, parse_tag("v1.2.3"), Revision("v1.2.3", COMMIT), next(RUN_IDS),
        PlanOptions(skip_tests=skip_tests),
    )  # fmt: skip
    return run_release(
        loaded, plan, fake_seams(hosts, [target]), PlainProgress(io.StringIO()),
        say=lambda _line: None,
    )  # fmt: skip


def failing_tests(context: BuildContext) -> BuildResult:
    if context.target == "tests":
        return BuildResult(1, b"".join(b"test %d ok\n" % n for n in range(30)) + b"FAIL: test_x\n")
    return deb_build(context)


def test_failing_tests_end_the_release_before_any_build_machine(tmp_path: Path) -> None:
    loaded, hosts, target = inventory(tmp_path), FakeBuildHosts(failing_tests), MemoryTarget()
    summary = release(loaded, hosts, target)
    assert (summary.status, summary.exit_code, summary.tests) == ("failed", 1, "failed")
    # One machine, the tests', was ever made, and it is gone; nothing was published.
    assert [name.split("-")[2] for name in hosts.sessions] == ["tests"]
    assert hosts.alive == set() and target.files == {} and target.publishes == 0
    assert summary.targets == ()
    gate = summary.gate
    assert gate is not None and gate.error == "tests: the tests failed with exit code 1"
    assert gate.log_tail[-1] == "FAIL: test_x" and len(gate.log_tail) == 20  # bounded
    assert gate.log is not None and Path(gate.log).name == "tests.log"
    assert "FAIL: test_x" in Path(gate.log).read_text()
    assert gate.droplet_seconds > 0 and summary.droplet_seconds == gate.droplet_seconds
    text = summary_text(summary)
    assert "tests        failed" in text and "      | FAIL: test_x" in text
    assert any("nothing was built or published" in m for m in summary.messages)
    data = summary.to_json()
    assert data["tests"] == "failed" and data["gate"]["log_tail"][-1] == "FAIL: test_x"
    page = render_report(summary)
    assert 'data-target="tests"' in page and "FAIL: test_x" in page


def test_passing_tests_let_their_machine_go_before_the_builds(tmp_path: Path) -> None:
    seen: list[list[str]] = []

    def build(context: BuildContext) -> BuildResult:
        if context.target != "tests":
            seen.append(list(hosts.released))  # what was let go when this build ran
        return deb_build(context)

    loaded, target = inventory(tmp_path), MemoryTarget()
    hosts = FakeBuildHosts(build)
    summary = release(loaded, hosts, target)
    assert (summary.status, summary.exit_code, summary.tests) == ("published", 0, "passed")
    # The tests' machine went first (a fast target may be let go before the other builds).
    assert len(seen) == 2 and all(r and "-tests-" in r[0] for r in seen)
    assert [t.status for t in summary.targets] == ["succeeded", "succeeded"]
    assert summary.gate is not None and summary.gate.error is None
    assert summary.gate.spans and "test" in summary.gate.spans
    assert "tests        passed" in summary_text(summary)


def test_skipped_tests_release_a_tag_whose_tests_fail_and_say_so(tmp_path: Path) -> None:
    loaded, hosts, target = inventory(tmp_path), FakeBuildHosts(failing_tests), MemoryTarget()
    summary = release(loaded, hosts, target, skip_tests=True)
    assert (summary.status, summary.tests, summary.gate) == ("published", "skipped", None)
    assert not any("-tests-" in name for name in hosts.sessions)
    assert summary.to_json()["tests"] == "skipped"
    assert "tests: skipped (--skip-tests)" in summary_text(summary)
    assert "tests were skipped" in render_report(summary)


def test_without_tests_the_summary_says_none(tmp_path: Path) -> None:
    loaded, target = inventory(tmp_path, tests=""), MemoryTarget()
    summary = release(loaded, FakeBuildHosts(), target)
    assert (summary.status, summary.tests, summary.gate) == ("published", "none", None)
    assert "tests" not in summary_text(summary).replace(str(tmp_path), "")
