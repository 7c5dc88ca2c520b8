"""Deploy benchmark: a rolling deploy to 6 sandbox servers in batches of 2, then a no-op.

Boots a private sandbox (its own state, ports and loopback addresses), releases v1.2.3 and
v1.2.4 of the example without deploying, deploys 1.2.3 to one environment of 6 servers
(batches of 2), then measures the rolling deploy of 1.2.4 and a deploy that changes
nothing. For the rolling deploy it prints the wall time, each host's own install +
restart + health time (from the deploy's progress lines), and the sum over batches of
each batch's slowest host: the target is a wall time within 15 % of that sum. Target for
the no-op deploy of 6 hosts: within 2 s.

    python benchmarks/deploy.py
"""

from __future__ import annotations

import random
import re
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
from tests.conftest import free_port, new_test_directory  # noqa: E402

STEP = re.compile(
    r"^(?P<host>bench-\d): (?P<step>install|restart|health) done \((?P<seconds>[0-9.]+)s\)"
)


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
    data = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
    net = f"127.{random.randint(50, 99)}.{random.randint(0, 255)}"
    sandbox = {
        "state_dir": str(directory / "sandbox"),
        "api_port": free_port(),
        "address_pool": f"127.{random.randint(100, 199)}.{random.randint(0, 255)}.0/24",
        "boot_delay": 0.3,
        "repo_server_address": f"127.{random.randint(200, 254)}.{random.randint(0, 255)}.1",
        "repo_http_port": free_port(),
    }
    data["cloud"]["sandbox"] = sandbox
    data["project"]["source"] = str(directory / "source")
    data["workspace"] = str(directory)
    for target in data["publish"]:
        target["host"] = sandbox["repo_server_address"]
        target["url"] = f"http://{sandbox['repo_server_address']}:{sandbox['repo_http_port']}"
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
        wall, out = invoke(inventory, "deploy", "--env", "bench", "--version", "1.2.4")
        noop, said = invoke(inventory, "deploy", "--env", "bench")
        per_host: dict[str, float] = {}
        for line in out.splitlines():
            match = STEP.match(line)
            if match:
                per_host[match["host"]] = per_host.get(match["host"], 0.0) + float(match["seconds"])
        batches = [[f"bench-{i}", f"bench-{i + 1}"] for i in (1, 3, 5)]
        slowest = sum(max(per_host.get(h, 0.0) for h in batch) for batch in batches)
        print(f"sandbox.up (6 servers booted): {booted:.2f}s; first deploy 1.2.3: {first:.2f}s")
        print("rolling deploy 1.2.4, 6 hosts in batches of 2:")
        for host, seconds in sorted(per_host.items()):
            print(f"  {host}: install + restart + health {seconds:.2f}s")
        print(f"  sum of each host's own time: {sum(per_host.values()):.2f}s")
        print(f"  sum over batches of the slowest host: {slowest:.2f}s")
        print(
            f"  wall time (whole invoke, incl. index read, survey, lock): {wall:.2f}s "
            f"({(wall / slowest - 1) * 100:+.0f}% over the batch sum; target within 15%)"
        )
        print(f"no-op deploy of 6 hosts: {noop:.2f}s (target 2 s): {said.strip().splitlines()[-1]}")
    finally:
        control.stop(SandboxSettings.model_validate(sandbox))
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
