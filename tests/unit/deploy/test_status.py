"""env.status says what the hosts say: dpkg's states, the records as records, the refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.deploy.actions import promote
from orchestrator.deploy.hoststate import HostState, Unsettled
from orchestrator.deploy.index import Available
from orchestrator.deploy.page import page_data, promotion_order, render_page
from orchestrator.deploy.records import Audit, Record
from orchestrator.deploy.render import describe_status
from orchestrator.deploy.status import _image_drift, _package_drift, environment_status
from orchestrator.deploy.survey import Surveys
from orchestrator.errors import UsageError
from orchestrator.testing.deploy import fake_deploy_seams
from orchestrator.testing.servers import FakeServer
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
    read = Surveys(loaded, seams)
    shown = []
    for environment in promotion_order(loaded.environments):
        shown.append(environment_status(loaded, environment, seams, read))
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


def test_the_health_shown_is_the_recorded_one_with_its_time_beside_the_units_now() -> None:
    servers = fleet()
    servers["dev-1"].units["hello.service"] = "inactive"
    shown = views(servers)
    host = view_of(shown, "dev")["hosts"]["dev-1"]
    assert (host["last_health"], host["last_health_at"]) == ("passed", "2026-12-01T11:00:00Z")
    assert host["units"] == {"hello.service": "inactive"}
    assert (
        "  dev-1: installed 1.2.3; units now hello.service=inactive; health passed (recorded "
        "2026-12-01T11:00:00Z, not checked now); last deployed 1.2.3"
    ) in describe_status(shown)
    cells = Cells()
    cells.feed(render_page(page_data("hello", shown, {}, {}, None, MADE)))
    assert cells.values[("dev-1", "health")] == "passed"


def failed_record(environment: str, host: str, version: str) -> str:
    return Record(
        "2026-12-01T12:00:00Z", "r2", environment, host, "deploy", version, "1.2.3", "failed",
        "ci",
    ).to_line()  # fmt: skip


def test_what_failed_upstream_is_shown_apart_from_what_failed_here() -> None:
    servers = fleet()
    servers["dev-1"].records.append(failed_record("dev", "dev-1", "1.2.5"))
    servers["staging-1"].records.append(failed_record("staging", "staging-1", "1.2.4"))
    shown = views(servers)
    assert view_of(shown, "dev")["failed_versions"] == ["1.2.5"]
    staging = view_of(shown, "staging")
    assert (staging["failed_versions"], staging["failed_upstream"]) == (
        ["1.2.4"],
        {"dev": ["1.2.5"]},
    )
    assert staging["desired"] == "1.2.3"  # neither is taken
    text = describe_status(shown)
    assert "  failed here: 1.2.4\n  failed upstream in dev (never taken here): 1.2.5" in text


def promote_refusal(servers: dict[str, FakeServer]) -> str:
    """What promote --to staging --dry-run says when it refuses."""
    with pytest.raises(UsageError) as refused:
        promote(
            inventory(), "staging", fake_deploy_seams(servers, OFFERED), version=None,
            audit=Audit("t"), lock_wait=0.0, dry_run=True, say=lambda line: None,
        )  # fmt: skip
    return str(refused.value)


def dev_runs_1_2_4() -> dict[str, FakeServer]:
    """Every host at 1.2.3 but dev-1, which a deploy moved to 1.2.4, healthy."""
    servers = fleet()
    servers["dev-1"].packages["hello"] = "1.2.4-1"
    deployed = Record("t", "r3", "dev", "dev-1", "deploy", "1.2.4", "1.2.3", "deployed", "ci")
    servers["dev-1"].records.append(deployed.to_line())
    return servers


@pytest.mark.parametrize("case", ["newer", "failed here", "half-installed"])
def test_the_next_promotion_says_why_promote_would_refuse_it(case: str) -> None:
    servers = dev_runs_1_2_4()
    if case == "newer":
        for name in ("staging-1", "staging-2"):
            servers[name].packages["hello"] = "1.2.5-1"
            deployed = Record(
                "t", "r4", "staging", name, "deploy", "1.2.5", "1.2.3", "deployed", "ci"
            )
            servers[name].records.append(deployed.to_line())
    elif case == "failed here":
        servers["staging-2"].records.append(failed_record("staging", "staging-2", "1.2.4"))
    else:
        servers["staging-2"].packages.clear()
        servers["staging-2"].unsettled = {"hello": "iF"}
    promotion = view_of(views(servers), "staging")["next_promotion"]
    assert (promotion["version"], promotion["eligible"]) == (None, False)
    assert promotion["why"] == promote_refusal(servers)
    assert f"next promotion from dev: none ({promotion['why']})" in describe_status(views(servers))


def test_the_next_promotion_is_what_promote_takes() -> None:
    servers = dev_runs_1_2_4()
    shown = views(servers)
    promotion = view_of(shown, "staging")["next_promotion"]
    assert (promotion["version"], promotion["eligible"]) == ("1.2.4", True)
    planned = promote(
        inventory(), "staging", fake_deploy_seams(servers, OFFERED), version=None,
        audit=Audit("t"), lock_wait=0.0, dry_run=True, say=lambda line: None,
    )  # fmt: skip
    assert (planned.status, planned.version) == ("planned", "1.2.4")
    assert "  next promotion from dev: 1.2.4\n" in describe_status(shown) + "\n"


def test_package_drift_says_each_way_a_host_strays() -> None:
    half = {"hello": Unsettled("iU", "1.2.4-1")}
    assert _package_drift("1.2.3", "1.2.3", {}, recorded=True) == []
    assert _package_drift(None, "1.2.3", half, recorded=True) == [
        "hello 1.2.4-1 is unpacked, not configured (dpkg iU)"
    ]
    assert _package_drift("1.2.3", None, {}, recorded=False) == [
        "installed 1.2.3, desired nothing",
        "installed by hand: no deploy record says so",
    ]


def test_image_drift_compares_the_running_image_with_the_registrys() -> None:
    host = HostState("web-1", {"app": "1.2.3", "worker": "1.2.3"}, digests={"app": "sha256:a"})
    components = ("app", "worker")
    assert _image_drift(host, components, {}) == []
    assert _image_drift(host, components, {"1.2.3": None}) == [
        "the registry does not say which image 1.2.3 is: drift unknown"
    ]
    assert _image_drift(host, components, {"1.2.3": ("sha256:a", "sha256:b")}) == [
        "worker run an image that is not 1.2.3 as the registry serves it"
    ]
    host = HostState(
        "web-1", {"app": "1.2.3", "worker": "1.2.3"}, digests=dict.fromkeys(components, "sha256:b")
    )
    assert _image_drift(host, components, {"1.2.3": ("sha256:a", "sha256:b")}) == []
