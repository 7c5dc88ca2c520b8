import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.config.inventory import BUILD_VARIABLES, load_inventory
from orchestrator.engine.operations import RemoteCommand
from orchestrator.engine.run_ids import is_run_id, new_run_id
from orchestrator.errors import InventoryError
from orchestrator.release.operations import Provision
from orchestrator.release.plan import PlanOptions, build_variables, droplet_name, make_plan
from orchestrator.release.render import plan_text
from orchestrator.version import Revision, nightly_release, parse_tag

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "unit" / "golden"
RUN_ID = "20261122t103005-a1b2c3"
COMMIT = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"


def planned(tag: str = "v1.2.3"):  # type: ignore[no-untyped-def]
    inventory = load_inventory(ROOT / "inventory" / "sandbox.yaml")
    return make_plan(inventory, parse_tag(tag), Revision(tag, COMMIT), RUN_ID)


def normalised(text: str) -> str:
    # Golden files must not depend on where the checkout lives.
    return text.replace(str(ROOT), "<root>")


NIGHTLY_AT = datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC)
INVENTORIES = {"sandbox": ROOT / "inventory" / "sandbox.yaml", "static": GOLDEN / "inventories" / "static.yaml"}  # fmt: skip


@pytest.mark.parametrize(
    ("inventory", "tag", "nightly", "verify", "name"),
    [
        ("sandbox", "v1.2.3", False, False, "plan_v1.2.3"),
        ("sandbox", "v1.3.0-rc.1", False, True, "plan_v1.3.0-rc.1"),
        ("sandbox", "v1.2.3", True, False, "plan_nightly"),
        ("static", "v2.0.0", False, True, "plan_static"),
    ],
)
def test_plan_matches_golden_files(
    inventory: str, tag: str, nightly: bool, verify: bool, name: str
) -> None:
    release = nightly_release(parse_tag(tag), NIGHTLY_AT) if nightly else parse_tag(tag)
    plan = make_plan(
        load_inventory(INVENTORIES[inventory]),
        release,
        Revision(tag, COMMIT),
        RUN_ID,
        PlanOptions(verify=verify),
    )
    outputs = {
        f"{name}.json": json.dumps(plan.to_dict(), indent=2, sort_keys=True) + "\n",
        f"{name}.txt": plan_text(plan) + "\n",
    }
    for filename, text in outputs.items():
        golden = GOLDEN / filename
        if os.environ.get("UPDATE_GOLDEN"):
            golden.write_text(normalised(text))
        assert normalised(text) == golden.read_text(), (
            f"{filename} differs; UPDATE_GOLDEN=1 to accept"
        )


def test_plan_is_deterministic() -> None:
    assert planned() == planned()


def test_droplets_are_named_and_tagged_per_run() -> None:
    plan = planned()
    assert [d.name for d in plan.droplets] == [
        f"relorch-hello-{t}-{RUN_ID}"
        for t in (
            "tests", "amd64-deb", "arm64-deb", "amd64-rpm", "arm64-rpm", "amd64-image",
            "arm64-image",
        )
    ]  # fmt: skip
    assert all(d.tags == ("relorch", f"relorch-run-{RUN_ID}") for d in plan.droplets)
    assert plan.channel == "stable"
    assert planned("v1.3.0-rc.1").channel == "testing"


def test_droplets_reached_on_their_private_address_say_so() -> None:
    vpc = "5a4981aa-9653-4bd1-bef5-d6bff52042e4"
    inventory = load_inventory(ROOT / "inventory" / "sandbox.yaml")
    cloud = inventory.cloud.model_copy(update={"network": "private", "vpc_uuid": vpc})
    plan = make_plan(
        inventory.model_copy(update={"cloud": cloud}),
        parse_tag("v1.2.3"),
        Revision("v1.2.3", COMMIT),
        RUN_ID,
    )
    assert {(d.network, d.vpc_uuid) for d in plan.droplets} == {("private", vpc)}
    provision = next(op for op in plan.targets[0].operations if isinstance(op, Provision))
    assert f"region sandbox1, VPC {vpc}, tags relorch" in provision.describe()
    assert provision.describe().endswith("wait up to 60s for SSH on its private IPv4 address")


def test_build_environment_and_rendered_command() -> None:
    target = planned("v1.3.0-rc.1").targets[3]
    assert target.environment["VERSION"] == "1.3.0~rc.1"
    assert target.environment["RPM_ARCH"] == "aarch64"
    build = next(
        op for op in target.operations if isinstance(op, RemoteCommand) and op.stage == "build"
    )
    assert "./build.sh rpm arm64 1.3.0~rc.1" in build.command and build.logged


def test_unknown_template_variable_is_an_inventory_error(tmp_path: Path) -> None:
    text = (
        (ROOT / "inventory" / "sandbox.yaml").read_text().replace("{{ arch }}", "{{ flavour }}", 1)
    )
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    with pytest.raises(
        InventoryError, match=r"targets\.amd64-deb\.command: 'flavour' is undefined"
    ):
        make_plan(load_inventory(path), parse_tag("v1.2.3"), Revision("v1.2.3", COMMIT), RUN_ID)


def test_run_ids_and_droplet_names() -> None:
    run_id = new_run_id(datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC), "a1b2c3")
    assert run_id == RUN_ID
    assert is_run_id(run_id)
    assert not is_run_id("../../etc")
    with pytest.raises(ValueError):
        new_run_id(datetime(2026, 1, 1, tzinfo=UTC), "xyz")
    assert (
        droplet_name("relorch", "lib+x", "amd64-deb", RUN_ID) == f"relorch-lib-x-amd64-deb-{RUN_ID}"
    )


def test_a_build_command_sees_exactly_the_variables_the_inventory_checks_it_against() -> None:
    inventory = load_inventory(ROOT / "inventory" / "sandbox.yaml")
    variables = build_variables(
        inventory, parse_tag("v1.2.3"), Revision("v1.2.3", COMMIT), RUN_ID, inventory.targets[0]
    )
    assert tuple(variables) == BUILD_VARIABLES
