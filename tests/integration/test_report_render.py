"""The HTML report as headless Chromium renders it: a screenshot for people, the DOM for us."""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.release.report import write_report
from orchestrator.release.summary import PublishedSummary, RunSummary, TargetSummary
from tests.integration.conftest import chromium

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium not installed"),
]


T0 = datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC).timestamp()
RUN_ID = "20261122t103005-a1b2c3"
# s-2vcpu-4gb, USD per droplet-second.
PRICE = 0.03571 / 3600


def _target(
    name: str,
    stages: dict[str, tuple[float, float]],
    status: str = "succeeded",
    error: str | None = None,
) -> TargetSummary:
    arch, fmt = name.split("-")
    first = min(start for start, _ in stages.values())
    last = max(end for _, end in stages.values())
    # The droplet lives from the create call until the delete call returns.
    alive = last - first + 4.0
    package = (
        f"hello_1.2.3-1_{arch}.deb"
        if fmt == "deb"
        else f"hello-1.2.3-1.{'x86_64' if arch == 'amd64' else 'aarch64'}.rpm"
    )
    return TargetSummary(
        name=name,
        arch=arch,
        format=fmt,
        status=status,  # type: ignore[arg-type]
        seconds=last - first,
        droplet_seconds=alive,
        cost=alive * PRICE,
        artifacts=(package, f"{package}.sha256") if status == "succeeded" else (),
        spans={stage: (T0 + start, T0 + end) for stage, (start, end) in stages.items()},
        error=error,
        log=f"logs/{RUN_ID}/{name}.log",
    )


def published_run() -> RunSummary:
    """Four targets built and published to two destinations."""
    return RunSummary(
        run_id=RUN_ID,
        project="hello",
        tag="v1.2.3",
        ref="v1.2.3",
        commit="3b18e512dba79e4c8300dd08aeb37f8e728b8dad",
        version="1.2.3",
        channel="stable",
        status="published",
        exit_code=0,
        started_at=T0,
        finished_at=T0 + 262.4,
        targets=(
            _target(
                "amd64-deb",
                {"provision": (2.1, 48.6), "build": (52.0, 131.4), "collect": (132.0, 139.8)},
            ),
            _target(
                "arm64-deb",
                {"provision": (2.3, 55.2), "build": (58.9, 171.0), "collect": (171.5, 180.2)},
            ),
            _target(
                "amd64-rpm",
                {"provision": (2.2, 46.9), "build": (50.1, 122.7), "collect": (123.3, 130.0)},
            ),
            _target(
                "arm64-rpm",
                {"provision": (2.4, 61.0), "build": (64.2, 189.5), "collect": (190.1, 199.3)},
            ),
        ),
        published=(
            PublishedSummary(
                "repo-server",
                "https://repo.example.org",
                "https://repo.example.org/keys/hello.asc",
                f"snapshots/{RUN_ID}",
            ),
            PublishedSummary(
                "spaces",
                "https://hello-packages.ams3.cdn.digitaloceanspaces.com",
                "https://hello-packages.ams3.cdn.digitaloceanspaces.com/keys/hello.asc",
            ),
        ),
        messages=(
            "signed with key 0123 4567 89AB CDEF 0123  4567 89AB CDEF 0123 4567",
            "published 8 files to stable on repo-server and spaces",
            "all 4 droplets destroyed",
        ),
    )


def failed_run() -> RunSummary:
    """One target fails its build with hostile output; fail_fast cancels two others."""
    error = (
        "build failed with exit code 2 after 33.6 s; last lines of the log:\n"
        "  nfpm: error: <script>alert('pwned')</script> is not a valid version\n"
        "  make: *** [Makefile:12: package] Error 2"
    )
    return RunSummary(
        run_id=RUN_ID,
        project="hello",
        tag="v1.3.0-rc.1",
        ref="v1.3.0-rc.1",
        commit="3b18e512dba79e4c8300dd08aeb37f8e728b8dad",
        version="1.3.0~rc.1",
        channel="testing",
        status="failed",
        exit_code=1,
        started_at=T0,
        finished_at=T0 + 104.8,
        targets=(
            _target(
                "amd64-deb",
                {"provision": (2.1, 48.6), "build": (52.0, 91.4), "collect": (92.0, 96.1)},
            ),
            _target("arm64-deb", {"provision": (2.3, 55.2), "build": (58.9, 98.0)}, "cancelled"),
            _target("amd64-rpm", {"provision": (2.2, 46.9), "build": (50.1, 98.0)}, "cancelled"),
            _target(
                "arm64-rpm", {"provision": (2.4, 61.0), "build": (64.2, 97.8)}, "failed", error
            ),
        ),
        messages=(
            "arm64-rpm failed: build failed with exit code 2",
            "fail_fast: cancelled arm64-deb, amd64-rpm",
            "nothing published; all 4 droplets destroyed",
        ),
    )


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


@pytest.fixture(scope="module")
def output_dir(request: pytest.FixtureRequest) -> Path:
    """Where the screenshots are left for people: $TEST_OUTPUT_DIR/report or test-output/."""
    base = Path(os.environ.get("TEST_OUTPUT_DIR") or request.config.rootpath / "test-output")
    directory = base / "report"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.mark.parametrize("make_summary", [published_run, failed_run], ids=["published", "failed"])
def test_report_renders_inchromium(
    make_summary: Callable[[], RunSummary], output_dir: Path, tmp_path: Path
) -> None:
    summary = make_summary()
    page = write_report(summary, output_dir / f"report-{summary.status}.html")
    screenshot = output_dir / f"report-{summary.status}.png"
    screenshot.unlink(missing_ok=True)

    chromium(tmp_path / "profile-shot", f"--screenshot={screenshot}", page.as_uri())
    assert _png_size(screenshot) == (1280, 900)
    # A blank or error page compresses to a few kilobytes; this one has text and colour.
    assert screenshot.stat().st_size > 40_000

    dom = chromium(tmp_path / "profile-dom", "--dump-dom", page.as_uri())
    bars = re.findall(r'<div class="bar [^"]*" data-target="([^"]+)"', dom)
    assert bars == [target.name for target in summary.targets]
    assert dom.count("data-target=") == 4
    assert "<script" not in dom
    assert summary.status in dom and summary.run_id in dom
