"""The deploy plan is pure and pinned by golden files; its commands are exact strings."""

from __future__ import annotations

import json
import os
from pathlib import Path

from orchestrator.commands import deploy as commands
from orchestrator.commands.deploy import HostFiles
from orchestrator.config.inventory import load_inventory
from orchestrator.deploy.choose import published
from orchestrator.deploy.hoststate import HostState, Unsettled, parse_host_state
from orchestrator.deploy.index import Available
from orchestrator.deploy.payload import payload_of
from orchestrator.deploy.plan import DeployHost, DeployPlan, make_deploy_plan
from orchestrator.deploy.promotion import promotion_candidate, rollback_target
from orchestrator.deploy.records import Record
from orchestrator.deploy.render import describe_plan
from orchestrator.errors import UsageError

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "unit" / "golden"
FILES = HostFiles(tool="relorch", project="hello")


def prod_plan() -> DeployPlan:
    inventory = load_inventory(ROOT / "inventory" / "sandbox.yaml")
    prod = inventory.environment("prod")
    hosts = [DeployHost(h.name, h.address, h.port, h.user, h.become) for h in prod.listed_hosts]
    return make_deploy_plan(
        payload_of(inventory, prod), hosts, files=FILES, version="1.2.3",
        installed_version="1.2.3-1", repository="http://127.76.0.1:8758", channels=("stable",),
        run_id="20261201t120000-abcdef", action="promote", lock_wait=300.0,
        where="environments.prod", ledger="sandbox-repo",
    )  # fmt: skip


def test_prod_plan_matches_golden_files() -> None:
    plan = prod_plan()
    outputs = {
        "deploy_prod.json": json.dumps(plan.to_dict(), indent=2, sort_keys=True) + "\n",
        "deploy_prod.txt": describe_plan(plan) + "\n",
    }
    for name, text in outputs.items():
        if os.environ.get("UPDATE_GOLDEN"):
            (GOLDEN / name).write_text(text)
        assert text == (GOLDEN / name).read_text(), f"{name} differs; UPDATE_GOLDEN=1 to accept"


def test_batches_of_one_in_inventory_order() -> None:
    plan = prod_plan()
    assert [[p.name for p in batch] for batch in plan.batches] == [
        ["prod-1"],
        ["prod-2"],
        ["prod-3"],
    ]


def test_commands_quote_every_value() -> None:
    assert commands.install(["hello"], "1.2.3-1") == (
        "DEBIAN_FRONTEND=noninteractive apt-get install -q -y --allow-downgrades "
        "--no-install-recommends -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confold "
        "hello=1.2.3-1"
    )
    line = '{"detail":"it\'s; rm -rf /"}'
    assert commands.append_record(FILES, line) == (
        "mkdir -p /var/lib/relorch && { [ ! -s /var/lib/relorch/deploys.jsonl ] || "
        "[ -z \"$(tail -c 1 /var/lib/relorch/deploys.jsonl)\" ] || echo; printf '%s\\n' "
        '\'{"detail":"it\'"\'"\'s; rm -rf /"}\'; } >> /var/lib/relorch/deploys.jsonl'
    )


def test_host_state_ignores_garbage_records() -> None:
    good = Record("t", "r", "dev", "dev-1", "deploy", "1.2.3", None, "deployed", "ci").to_line()
    output = (
        f"hello ii  1.2.3-1\nother rc  0.1\nheld hi  2.0\nhalf iF  1.0\n"
        f"{commands.MARK}\nactive\n{commands.MARK}\n"
        f'not json\n{{"result": "owned"}}\n[1,2]\n{good}\n'
    )
    state = parse_host_state("dev-1", output, ("hello.service",))
    assert state.components == {"hello": "1.2.3-1"}
    assert state.unsettled == {"held": Unsettled("hi", "2.0"), "half": Unsettled("iF", "1.0")}
    assert [u.describe() for u in state.unsettled.values()] == [
        "installed, held",
        "half-configured",
    ]
    assert state.units == {"hello.service": "active"}
    assert [r.version for r in state.records] == ["1.2.3"]
    assert state.version(("hello",)) == "1.2.3"


def _state(version: str, records: list[Record]) -> HostState:
    lines = "\n".join(r.to_line() for r in records)
    return parse_host_state(
        "h", f"hello ii  {version}-1\n{commands.MARK}\n{commands.MARK}\n{lines}\n", ()
    )


def test_promotion_takes_only_what_runs_healthy_everywhere() -> None:
    deployed = Record("t1", "r", "dev", "h", "deploy", "1.2.3", None, "deployed", "ci")
    failed = Record("t2", "r2", "dev", "h", "deploy", "1.2.5", "1.2.3", "failed", "ci")
    states = {"h": _state("1.2.3", [deployed, failed])}
    assert promotion_candidate("dev", states, ("hello",), {"h": "passed"}, None, set()) == "1.2.3"
    for healthy, wanted, message in [
        ({"h": "failed: 500"}, None, "not healthy"),
        ({}, "1.2.5", "failed in dev"),
        ({}, "1.2.4", "never deployed healthy"),
    ]:
        try:
            promotion_candidate("dev", states, ("hello",), healthy, wanted, set())
        except UsageError as error:
            assert message in str(error)
        else:
            raise AssertionError(f"{wanted} promoted")


def test_promotion_refuses_an_upstream_host_running_what_no_record_accounts_for() -> None:
    deployed = Record("t1", "r", "dev", "h", "deploy", "1.2.3", None, "deployed", "ci")
    states = {
        "h": _state("1.2.3", [deployed]),
        "i": _state("1.2.4", [deployed]),
        "j": _state("1.2.4", []),
    }
    try:
        promotion_candidate("dev", states, ("hello",), dict.fromkeys(states, "passed"), None, set())
    except UsageError as error:
        assert str(error).startswith(
            "i runs 1.2.4, j runs 1.2.4 of dev: not recorded (installed by hand, or a deploy "
            "killed before its record); nothing is promoted"
        )
    else:
        raise AssertionError("promoted from hosts in drift")


def test_rollback_goes_to_the_recorded_previous_version() -> None:
    first = Record("t1", "r1", "dev", "h", "deploy", "1.2.3", None, "deployed", "ci")
    second = Record("t2", "r2", "dev", "h", "deploy", "1.2.4", "1.2.3", "deployed", "ci")
    assert rollback_target("dev", {"h": _state("1.2.4", [first, second])}, ("hello",)) == "1.2.3"


def test_only_the_projects_epoch_is_offered() -> None:
    available = [
        Available("1.2.3-1", "stable"),
        Available("9:9.9.9-1", "stable"),
        Available("0:1.2.4-1", "stable"),
        Available("x:1.2.5-1", "stable"),
    ]
    inventory = load_inventory(ROOT / "inventory" / "sandbox.yaml")
    payload = payload_of(inventory, inventory.environment("dev"))
    assert list(published(available, payload, None)) == ["1.2.3", "1.2.4"]
    assert list(published(available, payload, 9)) == ["9.9.9"]
