"""The plan of a release with tests: the gate comes before any build machine, or not at all."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.commands import build as commands
from orchestrator.config.gate import TEST_VARIABLES
from orchestrator.config.inventory import Inventory, parse_inventory
from orchestrator.engine.operations import RemoteCommand
from orchestrator.errors import UsageError
from orchestrator.release.plan import Plan, PlanOptions, make_plan
from orchestrator.release.render import plan_text
from orchestrator.version import Revision, parse_tag

ROOT = Path(__file__).resolve().parents[3]
RUN_ID = "20261122t103005-a1b2c3"
COMMIT = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"
TESTS = {"commands": ["./test.sh", "make check"], "timeout": 90, "size": "s-4vcpu-8gb"}


def inventory(
    tests: dict[str, Any] | None = TESTS, path: str = "inventory/sandbox.yaml"
) -> Inventory:
    data = yaml.safe_load((ROOT / path).read_text())
    data.pop("tests", None)
    if tests is not None:
        data["tests"] = tests
    return parse_inventory(yaml.safe_dump(data), ROOT / path)


def plan(loaded: Inventory, **options: Any) -> Plan:
    return make_plan(
        loaded, parse_tag("v1.2.3"), Revision("v1.2.3", COMMIT), RUN_ID, PlanOptions(**options)
    )


def test_the_tests_run_on_a_droplet_of_their_own_before_every_build() -> None:
    planned = plan(inventory())
    gate = planned.gate
    assert gate is not None and gate.name == "tests"
    # The executor runs batch after batch: the builds' machines only once the tests passed.
    assert planned.batches == ((gate,), planned.targets)
    assert [op.name for op in gate.operations] == [
        "provision", "prepare", "upload", "unpack", "test", "destroy"
    ]  # fmt: skip
    machine = gate.machine
    assert (machine.kind, machine.name, machine.size, machine.image) == (
        "droplet", f"relorch-hello-tests-{RUN_ID}", "s-4vcpu-8gb", "debian-12-x64"
    )  # fmt: skip
    assert machine.tags == ("relorch", f"relorch-run-{RUN_ID}")
    assert planned.droplets[0] == machine and len(planned.droplets) == 1 + len(planned.targets)
    assert gate.operations[-1].cleanup  # the droplet goes whatever happened


def test_the_tests_see_the_release_and_no_secret() -> None:
    gate = plan(inventory()).gate
    assert gate is not None
    assert tuple(gate.environment) == TEST_VARIABLES
    assert gate.environment["VERSION"] == "1.2.3" and gate.environment["RUN_ID"] == RUN_ID
    test = next(
        op for op in gate.operations if isinstance(op, RemoteCommand) and op.stage == "test"
    )
    assert test.logged and test.timeout == 90 + 30  # the host's own timeout ends it first
    assert test.command == commands.tests(
        f".relorch/{RUN_ID}/tests", ["./test.sh", "make check"], gate.environment, 90
    )
    assert gate.timeout == 90


def test_no_tests_and_skipped_tests_plan_no_gate() -> None:
    none = plan(inventory(None))
    assert none.gate is None and not none.tests_skipped and none.batches == (none.targets,)
    skipped = plan(inventory(), skip_tests=True)
    assert skipped.gate is None and skipped.tests_skipped
    assert skipped.batches == (skipped.targets,)
    assert not plan(inventory(None), skip_tests=True).tests_skipped  # nothing to skip


def test_the_plan_shows_the_gate_between_the_source_and_the_builds() -> None:
    text = plan_text(plan(inventory()))
    before, gate, targets = (
        text.index("before the builds:"),
        text.index("tests ("),
        text.index("targets ("),
    )
    assert before < gate < targets
    assert "tests (timeout 90s, before any build machine exists; a failure ends the run):" in text
    assert "    [test] (relorch-hello-tests-" in text
    assert "tests: skipped (--skip-tests)" in plan_text(plan(inventory(), skip_tests=True))
    assert "tests" not in plan_text(plan(inventory(None))).split("targets (")[0]


def test_the_plan_json_has_the_gate_with_its_operations() -> None:
    data = plan(inventory()).to_dict()
    assert [op["kind"] for op in data["gate"]["operations"]] == [
        "provision", "command", "upload", "command", "command", "destroy"
    ]  # fmt: skip
    assert data["tests_skipped"] is False
    assert plan(inventory(None)).to_dict()["gate"] is None


def test_static_tests_run_on_their_host_and_clean_it() -> None:
    static = {"commands": ["make check"], "host": "builder-arm64"}
    gate = plan(inventory(static, "tests/unit/golden/inventories/static.yaml")).gate
    assert gate is not None
    assert (gate.machine.kind, gate.machine.name, gate.machine.port) == (
        "static",
        "builder-arm64",
        2222,
    )
    assert [op.name for op in gate.operations][-2:] == ["cleanup", "disconnect"]


def test_commands_too_long_for_one_shell_argument_are_refused_at_plan() -> None:
    # 30 KiB of quotes each pass the inventory, and come out five times longer once quoted
    # twice: the build host's shell would refuse them (E2BIG) after the droplet was bought.
    quotes = "'" * (30 * 1024)
    with pytest.raises(UsageError, match=r"^tests\.commands: quoted to run on the build host"):
        plan(inventory({"commands": [f"echo {quotes}"]}))
    loaded = inventory()
    target = loaded.targets[0].model_copy(update={"command": f"echo {quotes}"})
    with pytest.raises(UsageError, match=rf"^targets\.{target.name}\.command: quoted"):
        plan(loaded.model_copy(update={"targets": [target, *loaded.targets[1:]]}))
