"""Promotion trusts no host's word alone: the deploy ledger beside the repository, and drift.

Root on a host can erase its ``failed`` records and forge a healthy one, or install a
version by hand: these deploys and promotions run through in-memory servers and a memory
publish target that keeps the ledger.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.config.inventory import Inventory, parse_inventory
from orchestrator.deploy.actions import promote
from orchestrator.deploy.index import Available
from orchestrator.deploy.ledger import NO_TARGET, FailureLedger
from orchestrator.deploy.records import Audit, Record
from orchestrator.deploy.request import DeployRequest
from orchestrator.deploy.run import DeployOutcome, run_deploy
from orchestrator.deploy.status import environment_status
from orchestrator.deploy.survey import Surveys
from orchestrator.engine.locks import new_details
from orchestrator.errors import PublishError, UsageError
from orchestrator.publish.ledger import DeployFailure
from orchestrator.testing.deploy import fake_deploy_seams
from orchestrator.testing.publish import MemoryTarget
from orchestrator.testing.servers import FakeServer

ROOT = Path(__file__).resolve().parents[3]
OFFERED = [Available(f"{v}-1", "stable") for v in ("1.2.3", "1.2.4", "1.2.5")]
HOSTS = {"dev": ["dev-1"], "staging": ["staging-1", "staging-2"], "prod": ["prod-1", "prod-2", "prod-3"]}  # fmt: skip


def inventory() -> Inventory:
    data = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
    data["environments"] = [e for e in data["environments"] if e.get("kind") != "compose"]
    for environment in data["environments"]:
        environment["health"] = {"command": "check {{ package_version }}", "attempts": 1}
    return parse_inventory(yaml.safe_dump(data), ROOT / "inventory" / "sandbox.yaml")


def deployed(environment: str, host: str, version: str, previous: str | None = None) -> str:
    record = Record("t", "r", environment, host, "deploy", version, previous, "deployed", "ci")
    return record.to_line()


def fleet() -> dict[str, FakeServer]:
    """Every host on 1.2.3, as a deploy recorded it."""
    return {
        host: FakeServer(
            host, {"hello": "1.2.3-1"}, {"hello.service": "active"}, [deployed(env, host, "1.2.3")]
        )
        for env, hosts in HOSTS.items()
        for host in hosts
    }


def deploy(
    servers: dict[str, FakeServer], ledger: MemoryTarget, environment: str, version: str | None,
    said: list[str] | None = None,
) -> DeployOutcome:  # fmt: skip
    request = DeployRequest(environment, version, "deploy", Audit("tester"), lock_wait=0.0)
    seams = fake_deploy_seams(servers, OFFERED, ledger=ledger)
    return run_deploy(inventory(), request, seams, say=(said if said is not None else []).append)


def promoted(servers: dict[str, FakeServer], ledger: MemoryTarget, to: str, **kwargs: Any) -> str:
    outcome = promote(
        inventory(), to, fake_deploy_seams(servers, OFFERED, ledger=ledger),
        version=kwargs.get("version"), audit=Audit("tester"), lock_wait=0.0, dry_run=False,
        say=lambda line: None,
    )  # fmt: skip
    return outcome.version


def failed_1_2_5_in_dev(servers: dict[str, FakeServer], ledger: MemoryTarget) -> DeployOutcome:
    servers["dev-1"].healthy = lambda version: version != "1.2.5"
    return deploy(servers, ledger, "dev", "1.2.5")


def test_a_failed_deploy_writes_its_version_into_the_ledger() -> None:
    servers, ledger = fleet(), MemoryTarget()
    outcome = failed_1_2_5_in_dev(servers, ledger)
    assert outcome.exit_code == 1
    assert "1.2.5 is marked failed in dev; hosts went back: dev-1 -> 1.2.3" in outcome.message
    ((entry,),) = ledger.deploy_failures().values()
    assert (entry.version, entry.run_id, entry.host) == ("1.2.5", outcome.run_id, "dev-1")
    assert entry.detail.startswith("health check failed after 1 attempts")
    assert list(ledger.deploy_failures()) == ["dev"]


def test_a_version_the_ledger_lists_is_never_taken_again_whatever_the_hosts_say() -> None:
    servers, ledger = fleet(), MemoryTarget()
    failed_1_2_5_in_dev(servers, ledger)
    servers["dev-1"].healthy = lambda version: True
    # Root on dev-1 erases the failed line.
    servers["dev-1"].records = [line for line in servers["dev-1"].records if "failed" not in line]
    assert deploy(servers, ledger, "dev", None).version == "1.2.4"
    with pytest.raises(UsageError, match=r"1\.2\.5 failed"):
        deploy(servers, ledger, "dev", "1.2.5")
    # Nor is it taken downstream, by a range or by name.
    with pytest.raises(UsageError, match=r"1\.2\.5 failed"):
        deploy(servers, ledger, "staging", "1.2.5")


def test_promotion_refuses_a_forged_healthy_record_of_a_version_the_ledger_lists() -> None:
    servers, ledger = fleet(), MemoryTarget()
    failed_1_2_5_in_dev(servers, ledger)
    dev = servers["dev-1"]
    # Root on dev-1 puts 1.2.5 back by hand and forges its record: healthy, deployed.
    dev.healthy, dev.packages["hello"] = (lambda version: True), "1.2.5-1"
    dev.records = [deployed("dev", "dev-1", "1.2.3"), deployed("dev", "dev-1", "1.2.5", "1.2.3")]
    for version in (None, "1.2.5"):
        with pytest.raises(UsageError, match=r"1\.2\.5 failed in dev, as the deploy ledger"):
            promoted(servers, ledger, "staging", version=version)
    for host in HOSTS["staging"]:
        assert servers[host].packages == {"hello": "1.2.3-1"} and len(servers[host].records) == 1
    # Without the ledger's word, the forged record would have been taken.
    assert promoted(servers, MemoryTarget(), "staging") == "1.2.5"


def test_promotion_refuses_what_upstream_hosts_run_without_a_record() -> None:
    servers, ledger = fleet(), MemoryTarget()
    for host in HOSTS["staging"]:
        servers[host].packages["hello"] = "1.2.4-1"  # installed by hand on every host
    with pytest.raises(UsageError) as refused:
        promoted(servers, ledger, "prod")
    assert str(refused.value) == (
        "staging-1 runs 1.2.4, staging-2 runs 1.2.4 of staging: not recorded (installed by "
        "hand, or a deploy killed before its record); nothing is promoted: put them right "
        "with invoke deploy --env staging"
    )
    assert all(servers[host].commands == [] for host in HOSTS["prod"])
    # One host recorded, the other not: the message names the one.
    servers["staging-1"].records.append(deployed("staging", "staging-1", "1.2.4", "1.2.3"))
    with pytest.raises(UsageError, match=r"^staging-2 runs 1.2.4 of staging: not recorded"):
        promoted(servers, ledger, "prod")


def test_a_ledger_that_cannot_be_written_leaves_the_failure_exit_code_and_says_so() -> None:
    servers, ledger, said = fleet(), MemoryTarget(), list[str]()
    ledger.holder = new_details("20261207t000000-aaaaaa", "publish", datetime.now(UTC))
    servers["dev-1"].healthy = lambda version: version != "1.2.5"
    outcome = deploy(servers, ledger, "dev", "1.2.5", said)
    assert outcome.exit_code == 1
    assert (
        "1.2.5 is marked failed in dev on its hosts only, not in the deploy ledger: root on a "
        "host could erase the mark"
    ) in outcome.message
    (line,) = [line for line in said if "deploy ledger" in line]
    assert line.startswith("1.2.5 is not in the deploy ledger: memory target memory is locked")
    assert ledger.ledger is None


@pytest.mark.parametrize(
    ("ledger", "message"),
    [
        (MemoryTarget(refuse="unreachable"), "memory target memory: unreachable"),
        (MemoryTarget(), "memory target memory: the deploy ledger deploys.json is not one"),
    ],
)
def test_a_ledger_that_cannot_be_read_stops_the_deploy_before_any_host_changes(
    ledger: MemoryTarget, message: str
) -> None:
    if ledger.refuse is None:
        ledger.ledger = b'{"format": 1, "environments": {"dev": "1.2.5"}}'
    servers = fleet()
    with pytest.raises(PublishError, match=message):
        deploy(servers, ledger, "dev", "1.2.4")
    assert not any("apt-get" in c for s in servers.values() for c in s.commands)


def test_the_ledger_is_read_once_per_command() -> None:
    servers, ledger = fleet(), MemoryTarget()
    seams = fake_deploy_seams(servers, OFFERED, ledger=ledger)
    request = DeployRequest("prod", None, "deploy", Audit("tester"), lock_wait=0.0)
    # prod's deploy reads its failures and those of staging and dev: one request.
    assert run_deploy(inventory(), request, seams, say=lambda line: None).status == "unchanged"
    assert ledger.ledger_reads == 1
    promote(
        inventory(), "staging", seams, version=None, audit=Audit("tester"), lock_wait=0.0,
        dry_run=False, say=lambda line: None,
    )  # fmt: skip
    assert ledger.ledger_reads == 1


def test_env_status_lists_what_the_ledger_says_failed() -> None:
    servers, ledger = fleet(), MemoryTarget()
    failure = DeployFailure("1.2.5", "t", "r", "dev-1")
    ledger.record_deploy_failure("dev", failure, lock_wait=0, say=print)
    loaded = inventory()
    seams = fake_deploy_seams(servers, OFFERED, ledger=ledger)
    read = Surveys(loaded, seams)
    view = environment_status(loaded, loaded.environment("staging"), seams, read)
    assert view["failed_upstream"] == {"dev": ["1.2.5"]} and view["desired"] == "1.2.4"
    assert environment_status(loaded, loaded.environment("dev"), seams, read)[
        "failed_versions"
    ] == ["1.2.5"]


def test_without_a_publish_target_there_is_no_ledger_to_write() -> None:
    ledger = FailureLedger(None)
    assert ledger.failed("dev") == set()
    failure = DeployFailure("1.2.5", "t", "r", "dev-1")
    assert ledger.record("dev", failure, lock_wait=0, say=print) == NO_TARGET
