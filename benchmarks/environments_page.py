"""Environments page benchmark: 3 environments, 20 hosts, 200 deploy records.

Builds the views ``env.status --json`` would print for such a fleet (hosts spread over the
environments, records spread over the hosts), then times :func:`page_data` plus
:func:`render_page` and prints the page's size. Targets: within 1 s, under 300 KB.

    python benchmarks/environments_page.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.deploy.index import Available  # noqa: E402
from orchestrator.deploy.page import page_data, render_page  # noqa: E402

ENVIRONMENTS = ("dev", "staging", "prod")
HOSTS = 20
RECORDS = 200


def views() -> list[dict[str, Any]]:
    hosts_of = {
        name: [f"{name}-{i}" for i in range(1, 1 + (HOSTS // 3) + (name == "prod") * (HOSTS % 3))]
        for name in ENVIRONMENTS
    }
    every = [(env, host) for env, hosts in hosts_of.items() for host in hosts]
    records: dict[str, list[dict[str, Any]]] = {host: [] for _, host in every}
    for number in range(RECORDS):
        env, host = every[number % len(every)]
        records[host].append(
            {
                "time": f"2026-12-01T{number // 60:02d}:{number % 60:02d}:00Z",
                "run_id": f"20261201t{number:06d}-abcdef", "environment": env, "host": host,
                "action": "deploy", "version": f"1.{number // 10}.{number % 10}",
                "previous": "1.0.0", "result": "deployed", "by": "ci", "ci_job": None,
                "approved_by": None, "health": "passed", "detail": "",
            }
        )  # fmt: skip
    out = []
    for env, hosts in hosts_of.items():
        out.append(
            {
                "environment": env, "version": "^1.0.0", "desired": "1.19.9", "desired_problem": None,
                "running": "1.19.9", "failed_versions": ["1.3.4"], "lock": None, "from": None,
                "next_promotion": {"from": "dev", "version": "1.19.9", "eligible": True, "why": ""},
                "hosts": {
                    host: {
                        "installed": "1.19.9", "packages": {"hello": "1.19.9-1"},
                        "units": {"hello.service": "active"},
                        "last_record": records[host][-1] if records[host] else None,
                        "records": records[host][-20:], "last_health": "passed", "drift": [],
                    }
                    for host in hosts
                },
            }
        )  # fmt: skip
    return out


def main() -> None:
    data = views()
    versions = [f"1.{i // 10}.{i % 10}" for i in range(200)]
    offered = {
        v: Available(f"{v}-1", "stable", f"pool/main/h/hello/hello_{v}-1_amd64.deb")
        for v in versions
    }
    times = {f"{v}-1": datetime.now(UTC) for v in versions}
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
