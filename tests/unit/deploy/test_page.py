"""The environments page shows what env.status --json says: one state, rendered both ways."""

from __future__ import annotations

import html.parser
import json
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.deploy.index import Available
from orchestrator.deploy.page import page_data, promotion_order, render_page
from orchestrator.deploy.records import Record
from orchestrator.deploy.status import environment_status
from orchestrator.deploy.survey import Surveys
from orchestrator.testing.deploy import fake_deploy_seams
from orchestrator.testing.servers import FakeServer
from tests.unit.deploy.test_rollout import inventory

MADE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Cells(html.parser.HTMLParser):
    """Text of every element with data-field, keyed by its host (or environment) and field."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}
        self.classes: dict[str, str] = {}
        self._where: list[str] = []
        self._opened: list[str] = []
        self._field: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        places = ("data-host", "data-environment", "data-release")
        if any(place in found for place in places):
            where = next(found[place] or "" for place in places if place in found)
            self._where.append(where)
            self._opened.append(tag)
            self.classes[where] = found.get("class") or ""
        if "data-field" in found and self._where:
            self._field = (self._where[-1], found["data-field"] or "")
            self.values[self._field] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._opened and self._opened[-1] == tag:
            self._opened.pop()
            self._where.pop()
        if tag in ("span", "code", "p", "td"):
            self._field = None

    def handle_data(self, data: str) -> None:
        if self._field is not None:
            self.values[self._field] += data


def test_the_page_and_env_status_json_agree_on_every_field(tmp_path: Path) -> None:
    loaded = inventory()
    names = [h.name for e in loaded.environments for h in e.listed_hosts]
    record = Record("2026-12-01T11:00:00Z", "r1", "", "", "deploy", "1.2.3", None, "deployed", "ci")
    fleet = {}
    for environment in loaded.environments:
        for host in environment.listed_hosts:
            line = Record(**{**record.__dict__, "environment": environment.name, "host": host.name})
            fleet[host.name] = FakeServer(
                host.name, {"hello": "1.2.3-1"}, {"hello.service": "active"}, [line.to_line()]
            )
    fleet["staging-1"].packages["hello"] = "1.2.4-1"  # by hand: drift
    fleet["prod-1"].lock = (
        "run_id=20261201t100000-aaaaaa\ntag=promote 1.2.4\nhost=ci-7\npid=4\nstarted=1\n"
        "boot=b\nsince=2026-12-01T10:00:00Z\ntoken=ab\n"
    )
    offered = [Available("1.2.3-1", "stable"), Available("1.2.4-1", "stable")]
    seams = fake_deploy_seams(fleet, offered)
    read = Surveys(loaded, seams)
    views = []
    for environment in promotion_order(loaded.environments):
        views.append(environment_status(loaded, environment, seams, read))
    status_json = json.loads(json.dumps(views))
    published = {"1.2.3": offered[0]}
    times = {"1.2.3-1": datetime(2026, 11, 30, 9, 15, tzinfo=UTC)}
    page = render_page(page_data("hello", status_json, published, times, tmp_path, MADE))
    cells = Cells()
    cells.feed(page)
    for view in status_json:
        name = view["environment"]
        assert cells.values[(name, "desired")] == (view["desired"] or "nothing")
        assert cells.values[(name, "version")] == view["version"]
        lock = cells.values[(name, "lock")].strip()
        assert lock == (f"locked by {view['lock']}" if view["lock"] else "not locked")
        for host, shown in view["hosts"].items():
            assert cells.values[(host, "installed")] == (shown["installed"] or "nothing")
            assert cells.values[(host, "health")] == (shown["last_health"] or "unknown")
            if shown["drift"]:
                assert "drift" in cells.classes[host]
                assert cells.values[(host, "drift")] == "drift: " + "; ".join(shown["drift"])
            else:
                assert (host, "drift") not in cells.values
    assert {host for (host, _field) in cells.values} >= set(names)
    assert "locked by run 20261201t100000-aaaaaa" in cells.values[("prod", "lock")]
    assert "by hand" in cells.values[("staging-1", "drift")]
    assert cells.values[("1.2.3", "published")] == "2026-11-30 09:15:00 UTC"
    assert "<script" not in page and "http" not in page.split("<body>")[0]
