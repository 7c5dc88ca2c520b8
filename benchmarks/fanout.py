"""Fan-out benchmark: N targets whose build sleeps S seconds, built in the sandbox.

Prints, for each N: total wall time, the longest single build, overhead (total - S), and
droplet-seconds against the sum of each target's own provision + build + collect time.
Targets: overhead at most 15 s at N = 8; droplet-seconds within 10 % of that sum (no
droplet idles waiting for the others).

    python benchmarks/fanout.py [--sizes 4 8] [--sleep 20]
"""

from __future__ import annotations

import argparse
import io
import secrets
import shutil
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.cli.wiring.release import release_seams  # noqa: E402
from orchestrator.config.inventory import load_inventory  # noqa: E402
from orchestrator.engine.progress import PlainProgress  # noqa: E402
from orchestrator.engine.run_ids import new_run_id  # noqa: E402
from orchestrator.release.operations import ExportSource  # noqa: E402
from orchestrator.release.plan import make_plan  # noqa: E402
from orchestrator.release.run import run_release  # noqa: E402
from orchestrator.release.source import release_to_build  # noqa: E402
from orchestrator.sandbox import control  # noqa: E402
from orchestrator.sandbox.example import init_example_repository  # noqa: E402
from tests.conftest import new_test_directory  # noqa: E402
from tests.integration.conftest import sandbox_inventory  # noqa: E402

COMBINATIONS = [("amd64", "deb"), ("arm64", "deb"), ("amd64", "rpm"), ("arm64", "rpm")]


def write_inventory(directory: Path, count: int, sleep: float) -> Path:
    # The test bed's private world: its own state, API port and loopback addresses, and
    # packages only (no image target, registry or environment: this measures builds).
    data, sandbox = sandbox_inventory(directory)
    data["workspace"] = str(directory / "workspace")
    data["cloud"]["max_droplets"] = count
    sandbox["boot_delay"] = 1.0
    data["targets"] = [
        {
            "name": f"t{index}-{arch}-{fmt}",
            "arch": arch,
            "format": fmt,
            "command": f"sleep {sleep} && ./build.sh {{{{ format }}}} {{{{ arch }}}} {{{{ version }}}}",
            "artifacts": [f"dist/*.{fmt}"],
        }
        for index in range(count)
        for arch, fmt in [COMBINATIONS[index % len(COMBINATIONS)]]
    ]
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(count: int, sleep: float) -> None:
    directory = new_test_directory()
    inventory = load_inventory(write_inventory(directory, count, sleep))
    assert inventory.cloud.sandbox is not None
    try:
        init_example_repository(ROOT / "examples" / "hello", directory / "source", ["v1.2.3"])
        control.ensure_running(inventory.cloud.sandbox)
        now = datetime.now(UTC)
        release, revision = release_to_build(
            inventory.project.source, tag="v1.2.3", nightly=False, ref=None, now=now
        )
        plan = make_plan(inventory, release, revision, new_run_id(now, secrets.token_hex(3)))
        # Only the builds: the plan's source export and every target's program.
        builds = replace(
            plan, before=tuple(op for op in plan.before if isinstance(op, ExportSource)), after=()
        )
        started = time.time()
        summary = run_release(
            inventory, builds, release_seams(inventory), PlainProgress(io.StringIO()), say=print
        )
        results = summary.targets
        total = time.time() - started
    finally:
        control.stop(inventory.cloud.sandbox)
        shutil.rmtree(directory, ignore_errors=True)
    failed = [r.error for r in results if r.status != "succeeded"]
    if failed:
        raise SystemExit(f"N={count}: builds failed: {failed}")
    longest = max(end - start for r in results for start, end in [r.spans["build"]])
    droplet_seconds = sum(r.droplet_seconds for r in results)
    own_time = sum(r.spans["fetch"][1] - r.spans["provision"][0] for r in results)
    print(
        f"N={count:<2} S={sleep:g}s  total {total:6.1f}s  longest build {longest:6.1f}s  "
        f"overhead {total - sleep:5.1f}s  droplet-seconds {droplet_seconds:7.1f}  "
        f"sum of provision+build+collect {own_time:7.1f}  ratio {droplet_seconds / own_time:5.3f}"
    )


def main() -> None:
    """Run the benchmark for each size and print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--sleep", type=float, default=20.0)
    arguments = parser.parse_args()
    for count in arguments.sizes:
        run(count, arguments.sleep)


if __name__ == "__main__":
    main()
