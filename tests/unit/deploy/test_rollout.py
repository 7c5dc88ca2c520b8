"""Whole deploys through in-memory servers: batches, skips, failures, reverts, records, lock."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.config.inventory import Inventory, parse_inventory
from orchestrator.deploy.actions import rollback
from orchestrator.deploy.index import Available
from orchestrator.deploy.records import Audit, Record
from orchestrator.deploy.report import render_deploy_report
from orchestrator.deploy.request import DeployRequest
from orchestrator.deploy.run import DeployOutcome, run_deploy
from orchestrator.engine.interrupts import handling_interrupts
from orchestrator.errors import LockError, UsageError
from orchestrator.testing.deploy import fake_deploy_seams
from orchestrator.testing.servers import FakeServer

ROOT = Path(__file__).resolve().parents[3]
OFFERED = [Available(f"{v}-1", "stable") for v in ("1.2.3", "1.2.4", "1.2.5")]
HOSTS = ("prod-1", "prod-2", "prod-3")


def inventory() -> Inventory:
    data = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
    # The fake servers speak dpkg and systemd: Compose environments have tests of their own.
    data["environments"] = [e for e in data["environments"] if e.get("kind") != "compose"]
    for environment in data["environments"]:
        environment["health"] = {
            "command": "check {{ package_version }}",
            "attempts": 2,
            "interval": 0.01,
        }
    prod = next(e for e in data["environments"] if e["name"] == "prod")
    prod["version"] = "^1.2.0"
    prod.pop("from")  # upstream environments have their own tests
    return parse_inventory(yaml.safe_dump(data), ROOT / "inventory" / "sandbox.yaml")


def servers(version: str | None = "1.2.3", **kwargs: Any) -> dict[str, FakeServer]:
    packages = {"hello": f"{version}-1"} if version else {}
    return {
        name: FakeServer(name, dict(packages), {"hello.service": "active"}, **kwargs)
        for name in HOSTS
    }


def deploy(
    fleet: dict[str, FakeServer], version: str | None = None, action: str = "deploy"
) -> DeployOutcome:
    request = DeployRequest("prod", version, action, Audit("tester"), lock_wait=0.0)  # type: ignore[arg-type]
    return run_deploy(
        inventory(), request, fake_deploy_seams(fleet, OFFERED), say=lambda line: None
    )


def records(server: FakeServer) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.records]


def test_a_rolling_deploy_goes_batch_by_batch_and_records_every_host() -> None:
    fleet = servers()
    outcome = deploy(fleet, "1.2.4")
    assert outcome.status == "deployed" and outcome.exit_code == 0
    assert {s.packages["hello"] for s in fleet.values()} == {"1.2.4-1"}
    starts = [outcome.hosts[h]["steps"][0]["started"] for h in HOSTS]
    ends = [outcome.hosts[h]["steps"][-1]["started"] for h in HOSTS]
    assert starts[1] >= ends[0] and starts[2] >= ends[1]  # batch 1: one host at a time
    for server in fleet.values():
        (record,) = records(server)
        assert (record["version"], record["previous"], record["result"], record["by"]) == (
            "1.2.4", "1.2.3", "deployed", "tester",
        )  # fmt: skip
    assert all(server.lock is None for server in fleet.values())


def test_a_failed_health_check_reverts_every_touched_host_and_marks_the_version() -> None:
    fleet = servers()
    fleet["prod-2"].healthy = lambda version: version != "1.2.5"
    outcome = deploy(fleet, "1.2.5")
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert "prod-2" in outcome.message and "unhealthy 1.2.5" in outcome.message
    assert [fleet[h].packages["hello"] for h in HOSTS] == ["1.2.3-1"] * 3
    # prod-3 was never touched: no record, no install.
    assert records(fleet["prod-3"]) == []
    assert not any("apt-get install" in c for c in fleet["prod-3"].commands)
    for host in ("prod-1", "prod-2"):
        (record,) = records(fleet[host])
        assert (record["version"], record["result"]) == ("1.2.5", "failed")
        assert "went back to 1.2.3" in record["detail"]
    assert fleet["prod-1"].lock is None
    # The range never takes it again: a plain deploy picks 1.2.4.
    assert deploy(fleet).version == "1.2.4"


def test_an_install_failure_on_a_fresh_host_removes_what_it_installed() -> None:
    fleet = servers(version=None, broken_install={"1.2.4-1"})
    outcome = deploy(fleet, "1.2.4")
    assert outcome.status == "failed"
    assert all(s.packages == {} for s in fleet.values())


def test_hosts_at_the_version_are_left_alone_and_a_noop_is_one_round_trip() -> None:
    fleet = servers()
    fleet["prod-1"].packages["hello"] = "1.2.4-1"
    earlier = Record("t", "r0", "prod", "prod-1", "deploy", "1.2.4", "1.2.3", "deployed", "ci")
    fleet["prod-1"].records.append(earlier.to_line())
    # At the version but no record says so (a deploy killed before its record): redone.
    fleet["prod-2"].packages["hello"] = "1.2.4-1"
    deploy(fleet, "1.2.4")
    assert not any("apt-get install" in c for c in fleet["prod-1"].commands)
    assert len(records(fleet["prod-1"])) == 1
    assert records(fleet["prod-2"])[-1]["result"] == "deployed"
    before = {h: len(s.commands) for h, s in fleet.items()}
    outcome = deploy(fleet, "1.2.4")
    assert outcome.status == "unchanged"
    assert {h: len(s.commands) - before[h] for h, s in fleet.items()} == dict.fromkeys(HOSTS, 1)


def test_a_held_lock_names_its_holder_and_nothing_changes() -> None:
    fleet = servers()
    fleet["prod-1"].lock = (
        "run_id=20261201t100000-aaaaaa\ntag=deploy 1.2.4\nhost=ci-runner-7\npid=42\n"
        "started=1\nboot=b\nsince=2026-12-01T10:00:00Z\ntoken=feedbeef\n"
    )
    outcome = deploy(fleet, "1.2.4")
    assert outcome.status == "failed"
    assert re.search(r"locked by run 20261201t100000-aaaaaa .* on ci-runner-7", outcome.message)
    assert "invoke env.unlock --env prod --force" in outcome.message
    assert [s.packages["hello"] for s in fleet.values()] == ["1.2.3-1"] * 3
    assert all(s.records == [] for s in fleet.values())


def test_refusals_touch_no_host() -> None:
    fleet = servers(version="1.2.4")
    for version, message in [
        ("1.2.3", "newer than 1.2.3"),
        ("9.9.9", "not published"),
        ("1.3.0", "not published"),
    ]:
        with pytest.raises(UsageError, match=message):
            deploy(fleet, version)
    assert all(len(s.commands) == 3 for s in fleet.values())  # one inspection per attempt
    assert all(s.records == [] and s.lock is None for s in fleet.values())


def test_a_rollback_goes_back_and_is_recorded_as_one() -> None:
    fleet = servers()
    deploy(fleet, "1.2.4")
    outcome = rollback(
        inventory(), "prod", fake_deploy_seams(fleet, OFFERED), to=None, audit=Audit("tester"),
        lock_wait=0.0, dry_run=False, say=lambda line: None,
    )  # fmt: skip
    assert outcome.status == "deployed" and outcome.version == "1.2.3"
    assert records(fleet["prod-3"])[-1]["result"] == "rolled-back"


def test_a_lost_connection_is_a_failure_the_records_keep() -> None:
    fleet = servers()
    fleet["prod-1"].lost_on = "apt-get install"
    outcome = deploy(fleet, "1.2.4")
    assert outcome.status == "failed"
    assert "connection failed" in outcome.message
    (record,) = records(fleet["prod-1"])
    assert record["result"] == "failed"
    assert fleet["prod-1"].packages["hello"] == "1.2.3-1"
    with pytest.raises(UsageError, match="failed"):
        deploy(fleet, "1.2.4")


def test_a_version_rolled_back_from_is_never_taken_again_by_the_range() -> None:
    fleet = servers()
    deploy(fleet, "1.2.4")
    rollback(
        inventory(), "prod", fake_deploy_seams(fleet, OFFERED), to=None, audit=Audit("tester"),
        lock_wait=0.0, dry_run=False, say=lambda line: None,
    )  # fmt: skip
    # 1.2.5 is newer, and nothing marks it: the range takes it, never 1.2.4.
    assert deploy(fleet).version == "1.2.5"
    with pytest.raises(UsageError, match="rolled back"):
        deploy(fleet, "1.2.4")


def test_a_deploy_that_waited_for_the_lock_checks_its_choice_again() -> None:
    fleet = servers()
    seams = fake_deploy_seams(fleet, OFFERED)
    # Between the survey and the lock, another deploy failed 1.2.4 on prod-1.
    failed = Record("t", "other", "prod", "prod-1", "deploy", "1.2.4", "1.2.3", "failed", "ci")

    def take_lock(command: str) -> None:
        if "if mkdir" in command:
            fleet["prod-1"].records.append(failed.to_line())

    fleet["prod-1"].on_command = take_lock
    request = DeployRequest("prod", "1.2.4", "deploy", Audit("tester"), lock_wait=0.0)
    outcome = run_deploy(inventory(), request, seams, say=lambda line: None)
    assert outcome.status == "failed" and "changed while this deploy waited" in outcome.message
    assert [fleet[h].packages["hello"] for h in HOSTS] == ["1.2.3-1"] * 3
    assert fleet["prod-1"].lock is None


def test_a_held_or_half_installed_package_is_refused_before_anything_changes() -> None:
    fleet = servers()
    fleet["prod-2"].unsettled = {"hello": "hi"}
    with pytest.raises(UsageError, match="prod-2: package hello is in dpkg state 'hi'"):
        deploy(fleet, "1.2.4")
    # One read each; the lock on the first host is read too: no deploy holds it.
    assert [len(s.commands) for s in fleet.values()] == [2, 1, 1]
    assert fleet["prod-1"].commands[1].startswith("cat ")


def test_a_second_rollback_goes_further_back() -> None:
    fleet = servers()
    deploy(fleet, "1.2.4")
    deploy(fleet, "1.2.5")

    def back() -> DeployOutcome:
        return rollback(
            inventory(), "prod", fake_deploy_seams(fleet, OFFERED), to=None, audit=Audit("t"),
            lock_wait=0.0, dry_run=False, say=lambda line: None,
        )  # fmt: skip

    assert back().version == "1.2.4"
    assert back().version == "1.2.3"


def test_a_signal_mid_deploy_reverts_and_marks_nothing_failed() -> None:
    fleet = servers()
    # The old version is unhealthy too: the revert's check fails, which must not make
    # the interrupted version "failed".
    fleet["prod-1"].healthy = lambda version: version == "1.2.4"

    def interrupt(command: str) -> None:
        if command.startswith("systemctl daemon-reload"):
            fleet["prod-1"].on_command = lambda command: None
            os.kill(os.getpid(), signal.SIGINT)

    fleet["prod-1"].on_command = interrupt
    request = DeployRequest("prod", "1.2.4", "deploy", Audit("tester"), lock_wait=0.0)
    with handling_interrupts() as signals:
        outcome = run_deploy(
            inventory(), request, fake_deploy_seams(fleet, OFFERED), say=lambda line: None,
            signals=signals,
        )  # fmt: skip
    assert outcome.status == "interrupted" and outcome.exit_code == 130, (
        outcome.message,
        fleet["prod-1"].commands,
    )
    assert fleet["prod-1"].packages["hello"] == "1.2.3-1"
    (record,) = records(fleet["prod-1"])
    assert record["result"] == "interrupted", (record["detail"], record["health"])
    assert fleet["prod-1"].lock is None
    assert deploy(fleet, "1.2.4").status == "deployed"  # not marked failed


def test_a_login_that_may_not_sudo_is_refused_before_any_host_changes() -> None:
    fleet = servers()
    fleet["prod-2"].sudo = False
    with pytest.raises(UsageError) as refused:
        deploy(fleet, "1.2.4")
    assert refused.value.exit_code == 2
    assert str(refused.value).startswith(
        "prod-2: user deploy cannot run commands as root with sudo without a password "
        "(sudo: a password is required): add the line 'deploy ALL=(root) NOPASSWD: /bin/sh'"
    )
    for server in fleet.values():
        assert server.packages == {"hello": "1.2.3-1"} and server.records == []
        assert server.lock is None and len(server.commands) == 1  # the survey's one read


def test_a_host_that_could_not_go_back_is_named_in_the_answer_with_the_version_it_is_on() -> None:
    fleet = servers()

    def down_after_install(version: str) -> bool:
        fleet["prod-1"].down = True  # its SSH dies once 1.2.4 is installed
        return False

    fleet["prod-1"].healthy = down_after_install
    outcome = deploy(fleet, "1.2.4")
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert fleet["prod-1"].packages["hello"] == "1.2.4-1" and fleet["prod-1"].records == []
    assert outcome.message.endswith(
        "1.2.4 is marked failed in prod in the deploy ledger only (no host record was "
        "written); hosts went back: none; did not go back: prod-1 (on 1.2.4; its record not "
        "written)"
    )
    host = outcome.to_json()["hosts"]["prod-1"]
    assert (host["went_back"], host["left_on"], host["recorded"]) == (False, "1.2.4", False)
    assert outcome.to_json()["hosts"]["prod-2"]["touched"] is False
    page = render_deploy_report(outcome.to_json(), "hello", datetime(2026, 12, 1, tzinfo=UTC))
    row = page.split("<strong>prod-1</strong>", 1)[1].split("</tr>", 1)[0]
    assert "did not go back" in row and "1.2.4" in row and "not written" in row


def test_a_host_on_a_version_with_no_record_goes_back_to_its_recorded_one() -> None:
    # A deploy of 1.2.5 was killed: prod-1 kept 1.2.5 without a record, the re-run failed
    # on prod-2 and marked 1.2.5 failed; prod-2 and prod-3 went back to 1.2.4.
    fleet = servers("1.2.4")
    deployed = Record("t1", "r1", "prod", "", "deploy", "1.2.4", "1.2.3", "deployed", "ci")
    failed = Record("t2", "r2", "prod", "prod-2", "deploy", "1.2.5", "1.2.4", "failed", "ci")
    for name, server in fleet.items():
        server.records.append(dataclasses.replace(deployed, host=name).to_line())
    fleet["prod-2"].records.append(failed.to_line())
    fleet["prod-1"].packages["hello"] = "1.2.5-1"
    outcome = deploy(fleet)
    # Not "prod runs 1.2.5, nothing newer": it converges prod-1 on what prod runs.
    assert outcome.status == "deployed" and outcome.version == "1.2.4", outcome.message
    assert {s.packages["hello"] for s in fleet.values()} == {"1.2.4-1"}
    (record,) = records(fleet["prod-1"])[1:]
    assert (record["version"], record["previous"], record["result"]) == (
        "1.2.4",
        "1.2.4",
        "deployed",
    )
    assert "it ran 1.2.5 with no record of it" in record["detail"]
    assert deploy(fleet).status == "unchanged"


def test_a_failed_deploy_puts_a_host_with_no_record_back_on_its_recorded_version() -> None:
    fleet = servers("1.2.4")
    deployed = Record("t1", "r1", "prod", "", "deploy", "1.2.4", "1.2.3", "deployed", "ci")
    for name, server in fleet.items():
        server.records.append(dataclasses.replace(deployed, host=name).to_line())
    fleet["prod-1"].packages["hello"] = "1.2.3-1"  # by hand, no record
    fleet["prod-1"].healthy = lambda version: version != "1.2.5"
    outcome = deploy(fleet, "1.2.5")
    assert outcome.status == "failed"
    # It goes back to what prod's records say it runs, not to what was left on it.
    assert fleet["prod-1"].packages["hello"] == "1.2.4-1"
    assert outcome.hosts["prod-1"]["reverted_to"] == "1.2.4"


def roll_back(fleet: dict[str, FakeServer], to: str | None = None) -> DeployOutcome:
    return rollback(
        inventory(), "prod", fake_deploy_seams(fleet, OFFERED), to=to, audit=Audit("t"),
        lock_wait=0.0, dry_run=False, say=lambda line: None,
    )  # fmt: skip


def test_a_deploy_that_found_its_version_there_hides_not_the_one_before() -> None:
    fleet = servers()
    deploy(fleet, "1.2.4")
    # A deploy killed before its records, then redone: each host already ran 1.2.4.
    for name, server in fleet.items():
        again = Record("t2", "r2", "prod", name, "deploy", "1.2.4", "1.2.4", "deployed", "ci")
        server.records.append(again.to_line())
    outcome = roll_back(fleet)
    assert (outcome.status, outcome.version) == ("deployed", "1.2.3")


def test_a_rollback_that_found_its_version_there_marks_nothing_rolled_back_from() -> None:
    fleet = servers()
    deploy(fleet, "1.2.4")
    fleet["prod-1"].packages["hello"] = "1.2.3-1"  # back by hand
    assert roll_back(fleet, "1.2.3").status == "deployed"
    # What it ran by hand is said, not taken for what prod ran before the rollback.
    last = records(fleet["prod-1"])[-1]
    assert last["previous"] == "1.2.4" and "it ran 1.2.3 with no record" in last["detail"]
    deploy(fleet, "1.2.5")
    # 1.2.3 was never rolled back from: a later rollback may go back to it.
    outcome = roll_back(fleet)
    assert (outcome.status, outcome.version) == ("deployed", "1.2.3")
    assert {s.packages["hello"] for s in fleet.values()} == {"1.2.3-1"}


def test_rolling_back_an_environment_never_deployed_says_so() -> None:
    fleet = servers(version=None)
    for to in (None, "1.2.3"):
        with pytest.raises(UsageError, match=r"^prod was never deployed: there is nothing to roll"):
            roll_back(fleet, to)
    assert all(s.packages == {} and s.records == [] for s in fleet.values())


def test_a_rollback_to_what_is_not_a_version_names_the_flag_to() -> None:
    fleet = servers()
    with pytest.raises(UsageError, match=r"^--to '\.\./x' is not a release version"):
        roll_back(fleet, "../x")
    assert all(s.records == [] and s.lock is None for s in fleet.values())


def test_a_rollback_during_a_deploy_names_the_deploy_not_dpkg() -> None:
    fleet = servers()
    deploy(fleet, "1.2.4")
    # Another deploy of 1.2.5 holds the lock and is half-way through prod-2's install.
    fleet["prod-1"].lock = (
        "run_id=20261201t100000-aaaaaa\ntag=deploy 1.2.5\nhost=ci-7\npid=42\nstarted=1\n"
        "boot=b\nsince=2026-12-01T10:00:00Z\ntoken=feedbeef\n"
    )
    fleet["prod-2"].unsettled = {"hello": "iU"}
    with pytest.raises(LockError) as busy:
        roll_back(fleet)
    message = str(busy.value)
    assert message.startswith(
        "prod is being deployed: run 20261201t100000-aaaaaa (deploy 1.2.5) on ci-7, pid 42, "
        "since 2026-12-01T10:00:00Z holds its lock (on prod-1), and prod-2: package hello is "
        "in dpkg state 'iU' (unpacked, not configured) under it; nothing was changed"
    )
    assert "dpkg --configure" not in message and busy.value.exit_code == 1
    assert fleet["prod-1"].lock is not None and len(records(fleet["prod-1"])) == 1


def test_a_deploy_stopped_by_something_else_than_a_host_says_which_hosts_went_back() -> None:
    fleet = servers()

    def say(line: str) -> None:
        if line.startswith("prod-2: install done"):
            raise RuntimeError("a progress printer broke")

    request = DeployRequest("prod", "1.2.4", "deploy", Audit("tester"), lock_wait=0.0)
    outcome = run_deploy(inventory(), request, fake_deploy_seams(fleet, OFFERED), say=say)
    assert outcome.status == "failed"
    assert "before any host changed" not in outcome.message
    back = outcome.message.split("; hosts went back: ", 1)[1]
    assert sorted(back.split(", ")) == ["prod-1 -> 1.2.3", "prod-2 -> 1.2.3"]
    assert {s.packages["hello"] for s in fleet.values()} == {"1.2.3-1"}
