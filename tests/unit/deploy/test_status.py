"""env.status says what the hosts say: dpkg's states, the records as records, the refusals."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.deploy.index import Available
from orchestrator.deploy.page import page_data, promotion_order, render_page
from orchestrator.deploy.records import Record
from orchestrator.deploy.render import describe_status
from orchestrator.deploy.status import environment_status, next_promotion
from orchestrator.deploy.survey import surveyor
from orchestrator.testing.servers import FakeServer, fake_deploy_seams
from tests.unit.deploy.test_page import MADE, Cells
from tests.unit.deploy.test_rollout import inventory

OFFERED = [Available(f"{v}-1", "stable") for v in ("1.2.3", "1.2.4", "1.2.5")]


def fleet(version: str = "1.2.3") -> dict[str, FakeServer]:
    """Every host of the inventory at ``version``, deployed and recorded there."""
    servers = {}
    for environment in inventory().environments:
        for host in environment.listed_hosts:
            record = Record(
                "2026-12-01T11:00:00Z", "r1", environment.name, host.name, "deploy", version,
                None, "deployed", "ci", health="passed",
            )  # fmt: skip
            servers[host.name] = FakeServer(
                host.name, {"hello": f"{version}-1"}, {"hello.service": "active"},
                [record.to_line()],
            )  # fmt: skip
    return servers


def views(servers: dict[str, FakeServer]) -> list[dict[str, Any]]:
    """What env.status --json prints for every environment."""
    loaded = inventory()
    seams = fake_deploy_seams(servers, OFFERED)
    read = surveyor(loaded, seams)
    shown = []
    for environment in promotion_order(loaded.environments):
        view = environment_status(loaded, environment, seams, read)
        view["next_promotion"] = next_promotion(loaded, environment, read)
        shown.append(view)
    return list(json.loads(json.dumps(shown)))


def view_of(shown: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(view for view in shown if view["environment"] == name)


def test_a_package_dpkg_holds_half_installed_is_shown_as_dpkg_says() -> None:
    servers = fleet()
    servers["dev-1"].packages.clear()
    servers["dev-1"].unsettled = {"hello": "iU"}
    shown = views(servers)
    host = view_of(shown, "dev")["hosts"]["dev-1"]
    assert host["installed"] is None
    assert host["unsettled"] == {
        "hello": {"dpkg": "iU", "version": "1.0", "state": "unpacked, not configured"}
    }
    assert host["drift"] == ["hello 1.0 is unpacked, not configured (dpkg iU)"]
    text = describe_status(shown)
    assert "  dev-1: installed hello 1.0 unpacked, not configured; units" in text
    assert "installed nothing" not in text
    cells = Cells()
    cells.feed(render_page(page_data("hello", shown, {}, {}, None, MADE)))
    assert cells.values[("dev-1", "installed")] == "hello 1.0 unpacked, not configured"
