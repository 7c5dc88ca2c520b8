"""Deploy benchmark: a rolling deploy to 6 sandbox servers in batches of 2, then a no-op.

Boots a private sandbox (its own state, ports and loopback addresses), releases v1.2.3 and
v1.2.4 of the example without deploying, deploys 1.2.3 to one environment of 6 servers
(batches of 2), then measures the rolling deploy of 1.2.4 and a deploy that changes
nothing. For the rolling deploy it prints, from the steps of ``deploy --json``, each
host's own install + restart + health time and whole program, the sum over batches of
each batch's slowest host, and the rolling phase's wall time (first host step to last):
the target is a wall time within 15 % of that sum. It prints the whole command's time
too (process start, index, survey, lock, records). Target for the no-op deploy of 6
hosts: within 2 s.

    python benchmarks/deploy.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.sandbox import control  # noqa: E402
from orchestrator.sandbox_settings import SandboxSettings  # noqa: E402
from tests.conftest import new_test_directory  # noqa: E402
from tests.integration.conftest import sandbox_inventory  # noqa: E402

OWN_STEPS = ("install", "restart", "health")


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


def main() -> None:
    directory = new_test_directory()
    data, sandbox = sandbox_inventory(directory, servers=True)
    net = data["environments"][0]["hosts"][0]["address"].rsplit(".", 1)[0]
    bench = dict(data["environments"][1])
    bench.update(
        name="bench", auto=False, version="*", batch=2,
        hosts=[{"name": f"bench-{i}", "address": f"{net}.{10 + i}", "host_key": "sandbox"} for i in range(1, 7)],
    )  # fmt: skip
    bench.pop("from", None)
    data["environments"] = [bench]
    inventory = directory / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(data))
    try:
        invoke(inventory, "example.init", "--tag", "v1.2.3", "--tag", "v1.2.4")
        for tag in ("v1.2.3", "v1.2.4"):
            invoke(inventory, "release", "--tag", tag, "--no-deploy")
        booted, _ = invoke(inventory, "sandbox.up")
        first, _ = invoke(inventory, "deploy", "--env", "bench", "--version", "1.2.3")
        wall, out = invoke(inventory, "deploy", "--env", "bench", "--version", "1.2.4", "--json")
        noop, said = invoke(inventory, "deploy", "--env", "bench")
        hosts = json.loads(out)["hosts"]
        own = {
            name: sum(s["seconds"] for s in host["steps"] if s["name"] in OWN_STEPS)
            for name, host in hosts.items()
        }
        whole = {
            name: host["steps"][-1]["started"]
            + host["steps"][-1]["seconds"]
            - host["steps"][0]["started"]
            for name, host in hosts.items()
        }
        batches = [[f"bench-{i}", f"bench-{i + 1}"] for i in (1, 3, 5)]
        slowest_own = sum(max(own[h] for h in batch) for batch in batches)
        slowest_whole = sum(max(whole[h] for h in batch) for batch in batches)
        starts = [host["steps"][0]["started"] for host in hosts.values()]
        ends = [h["steps"][-1]["started"] + h["steps"][-1]["seconds"] for h in hosts.values()]
        rolling = max(ends) - min(starts)
        print(f"sandbox.up (6 servers booted): {booted:.2f}s; first deploy 1.2.3: {first:.2f}s")
        print("rolling deploy 1.2.4, 6 hosts in batches of 2:")
        for name in sorted(hosts):
            print(
                f"  {name}: install + restart + health {own[name]:.2f}s; "
                f"its whole program in the batch {whole[name]:.2f}s"
            )
        print(f"  sum of each host's install + restart + health: {sum(own.values()):.2f}s")
        print(
            f"  sum over batches of the slowest host (install + restart + health): {slowest_own:.2f}s"
        )
        print(f"  sum over batches of the slowest host (whole program): {slowest_whole:.2f}s")
        print(
            f"  rolling phase wall time (first host step to last): {rolling:.2f}s "
            f"({(rolling / slowest_whole - 1) * 100:+.1f}% over the whole-program batch sum, "
            f"{(rolling / slowest_own - 1) * 100:+.1f}% over install + restart + health; "
            "target within 15%)"
        )
        print(
            f"  the whole invoke (process start, index read and verify, survey, lock, "
            f"records): {wall:.2f}s"
        )
        print(f"no-op deploy of 6 hosts: {noop:.2f}s (target 2 s): {said.strip().splitlines()[-1]}")
    finally:
        control.stop(SandboxSettings.model_validate(sandbox))
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
