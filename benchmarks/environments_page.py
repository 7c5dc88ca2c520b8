"""Environments page benchmark: 3 environments, 20 hosts, 200 deploy records.

Builds the views ``env.status --json`` prints for such a fleet (hosts spread over the
environments, records spread over the hosts) with env.status itself, over the in-memory
fakes of the deploy's seams, so the views always have the shape the page reads; then
times :func:`page_data` plus :func:`render_page` and prints the page's size. Targets:
within 1 s, under 300 KB.

    python benchmarks/environments_page.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.config.inventory import Inventory, parse_inventory  # noqa: E402
from orchestrator.deploy.index import Available  # noqa: E402
from orchestrator.deploy.page import page_data, promotion_order, render_page  # noqa: E402
from orchestrator.deploy.records import Record  # noqa: E402
from orchestrator.deploy.status import environment_status  # noqa: E402
from orchestrator.deploy.survey import Surveys  # noqa: E402
from orchestrator.testing.deploy import fake_deploy_seams  # noqa: E402
from orchestrator.testing.servers import FakeServer  # noqa: E402

ENVIRONMENTS = ("dev", "staging", "prod")
HOSTS = 20
RECORDS = 200
VERSIONS = [f"1.{i // 10}.{i % 10}" for i in range(RECORDS)]
SANDBOX = ROOT / "inventory" / "sandbox.yaml"


def hosts_of() -> dict[str, list[str]]:
    """The hosts of each environment: a third each, prod takes the rest."""
    share = HOSTS // len(ENVIRONMENTS)
    return {
        name: [f"{name}-{i}" for i in range(1, 1 + share + (name == "prod") * (HOSTS % 3))]
        for name in ENVIRONMENTS
    }


def fleet_inventory() -> Inventory:
    """The sandbox inventory's package environments, with :func:`hosts_of`'s hosts."""
    data = yaml.safe_load(SANDBOX.read_text())
    data["environments"] = [e for e in data["environments"] if e["name"] in ENVIRONMENTS]
    for number, environment in enumerate(data["environments"]):
        environment["hosts"] = [
            {"name": host, "address": f"127.78.{number}.{i + 10}", "host_key": "sandbox"}
            for i, host in enumerate(hosts_of()[environment["name"]])
        ]
    return parse_inventory(yaml.safe_dump(data), SANDBOX)


def servers() -> dict[str, FakeServer]:
    """Every host at the last version, with the records spread over the hosts."""
    every = [(env, host) for env, hosts in hosts_of().items() for host in hosts]
    records: dict[str, list[str]] = {host: [] for _, host in every}
    for number, version in enumerate(VERSIONS):
        env, host = every[number % len(every)]
        record = Record(
            f"2026-12-01T{number // 60:02d}:{number % 60:02d}:00Z", f"20261201t{number:06d}-abcdef",
            env, host, "deploy", version, "1.0.0", "deployed", "ci", health="passed",
        )  # fmt: skip
        records[host].append(record.to_line())
    return {
        host: FakeServer(
            host, {"hello": f"{VERSIONS[-1]}-1"}, {"hello.service": "active"}, records[host]
        )
        for _, host in every
    }


def views(offered: dict[str, Available]) -> list[dict[str, Any]]:
    """What ``env.status --json`` prints for the fleet, every environment in promotion order."""
    inventory = fleet_inventory()
    seams = fake_deploy_seams(servers(), list(offered.values()))
    read = Surveys(inventory, seams)
    shown = [
        environment_status(inventory, environment, seams, read)
        for environment in promotion_order(inventory.environments)
    ]
    return list(json.loads(json.dumps(shown)))


def main() -> None:
    offered = {
        v: Available(f"{v}-1", "stable", f"pool/main/h/hello/hello_{v}-1_amd64.deb")
        for v in VERSIONS
    }
    data = views(offered)
    times = {f"{v}-1": datetime.now(UTC) for v in VERSIONS}
    with tempfile.TemporaryDirectory() as reports:
        started = time.perf_counter()
        made = datetime.now(UTC)
        page = render_page(page_data("hello", data, offered, times, Path(reports), made))
        elapsed = time.perf_counter() - started
    hosts = sum(len(v["hosts"]) for v in data)
    records = sum(len(h["records"]) for v in data for h in v["hosts"].values())
    print(
        f"{len(data)} environments, {hosts} hosts, {records} deploy records: rendered in "
        f"{elapsed * 1000:.0f} ms (target 1 s), {len(page.encode()) / 1024:.0f} KB (target 300 KB)"
    )


if __name__ == "__main__":
    main()
