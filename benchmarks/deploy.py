"""Deploy benchmark: rolling deploys, no-op deploys and env.status at 6, 12 and 24 servers.

For each size, boots a private sandbox (its own state, ports and loopback addresses) with
one environment of N servers (batches of 2) beside the sandbox inventory's other
environments, releases v1.2.3 and v1.2.4 of the example without deploying, deploys 1.2.3,
then measures, as typed (one process each):

- the rolling deploy of 1.2.4: its rolling phase (first host step to last) against the sum
  over batches of each batch's slowest host (target: within 15 %), and the overhead around
  it (process start, index read and verify, survey, lock, records; target: within 1.0 s);
- a deploy that changes nothing, and ``env.status`` of every environment (targets: each
  within 1.5x from 6 to 24 servers; ``env.status`` within 1.5 s at 6).

    python benchmarks/deploy.py [--sizes 6 12 24]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.config.sandbox_settings import SandboxSettings  # noqa: E402
from orchestrator.sandbox import control  # noqa: E402
from tests.conftest import new_test_directory  # noqa: E402
from tests.integration.conftest import sandbox_inventory  # noqa: E402

OWN_STEPS = ("install", "restart", "health")
BATCH = 2


def invoke(inventory: Path, *args: str) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "invoke", *args, "--inventory", str(inventory)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"invoke {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed, result.stdout


def _world(directory: Path, size: int) -> tuple[Path, dict[str, Any]]:
    """An inventory with a ``bench`` environment of ``size`` servers beside the others."""
    data, sandbox = sandbox_inventory(directory, servers=True)
    data["environments"] = [e for e in data["environments"] if e.get("kind") != "compose"]
    net = data["environments"][0]["hosts"][0]["address"].rsplit(".", 1)[0]
    bench = dict(data["environments"][1])
    bench.update(
        name="bench", auto=False, version="*", batch=BATCH,
        hosts=[
            {"name": f"bench-{i}", "address": f"{net}.{100 + i}", "host_key": "sandbox"}
            for i in range(1, size + 1)
        ],
    )  # fmt: skip
    bench.pop("from", None)
    data["environments"].append(bench)
    inventory = directory / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(data))
    return inventory, sandbox


def _rolling(hosts: dict[str, Any]) -> tuple[float, float]:
    """The rolling phase's wall time, and the sum over batches of the slowest host."""
    whole = {
        name: host["steps"][-1]["started"] + host["steps"][-1]["seconds"] - host["steps"][0]["started"]
        for name, host in hosts.items()
    }  # fmt: skip
    names = sorted(hosts, key=lambda name: int(name.rsplit("-", 1)[1]))
    batches = [names[i : i + BATCH] for i in range(0, len(names), BATCH)]
    slowest = sum(max(whole[h] for h in batch) for batch in batches)
    starts = [host["steps"][0]["started"] for host in hosts.values()]
    ends = [h["steps"][-1]["started"] + h["steps"][-1]["seconds"] for h in hosts.values()]
    return max(ends) - min(starts), slowest


def measure(size: int) -> dict[str, float]:
    """Every figure of one size, printed as it comes."""
    directory = new_test_directory()
    inventory, sandbox = _world(directory, size)
    try:
        invoke(inventory, "example.init", "--tag", "v1.2.3", "--tag", "v1.2.4")
        for tag in ("v1.2.3", "v1.2.4"):
            invoke(inventory, "release", "--tag", tag, "--no-deploy")
        booted, _ = invoke(inventory, "sandbox.up")
        invoke(inventory, "deploy", "--env", "bench", "--version", "1.2.3")
        wall, out = invoke(inventory, "deploy", "--env", "bench", "--version", "1.2.4", "--json")
        rolling, slowest = _rolling(json.loads(out)["hosts"])
        noop, _ = invoke(inventory, "deploy", "--env", "bench")
        status = min(invoke(inventory, "env.status")[0] for _ in range(3))
        figures = {
            "rolling": rolling, "slowest": slowest, "overhead": wall - rolling,
            "noop": noop, "status": status,
        }  # fmt: skip
        print(
            f"{size} servers (booted in {booted:.1f}s): rolling deploy {rolling:.2f}s "
            f"({(rolling / slowest - 1) * 100:+.1f}% over the batches' slowest, target 15%), "
            f"overhead {figures['overhead']:.2f}s (target 1.0s), no-op deploy {noop:.2f}s, "
            f"env.status of {size + 9} hosts {status:.2f}s",
            flush=True,
        )
        return figures
    finally:
        control.stop(SandboxSettings.model_validate(sandbox))
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 12, 24])
    sizes = parser.parse_args().sizes
    results = {size: measure(size) for size in sizes}
    first, last = results[sizes[0]], results[sizes[-1]]
    for name in ("noop", "status"):
        print(
            f"{name} from {sizes[0]} to {sizes[-1]} servers: {first[name]:.2f}s -> "
            f"{last[name]:.2f}s ({last[name] / first[name]:.2f}x, target within 1.5x)"
        )


if __name__ == "__main__":
    main()
