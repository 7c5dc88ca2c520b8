"""The inventory's ``tests:``: what it takes, what it refuses."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.config.inventory import Inventory, parse_inventory
from orchestrator.errors import InventoryError

ROOT = Path(__file__).resolve().parents[3]
STATIC_HOST = {"name": "builder", "address": "127.0.0.1", "host_key": "ssh-ed25519 AAAA"}


def sandbox_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
    data.pop("tests", None)
    return data


def parse(data: dict[str, Any]) -> Inventory:
    return parse_inventory(yaml.safe_dump(data), Path("inv.yaml"))


def test_no_tests_means_no_gate() -> None:
    assert parse(sandbox_data()).tests is None


def test_tests_take_commands_a_timeout_and_a_droplet_of_their_own() -> None:
    data = sandbox_data()
    data["tests"] = {"commands": ["make check", "./test.sh"], "timeout": 90, "size": "s-4vcpu-8gb"}
    tests = parse(data).tests
    assert tests is not None
    assert (tests.commands, tests.timeout, tests.size, tests.image, tests.host) == (
        ["make check", "./test.sh"], 90.0, "s-4vcpu-8gb", None, None
    )  # fmt: skip
    assert parse({**data, "tests": {"commands": ["true"]}}).tests.timeout == 1800.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("tests", "message"),
    [
        ({"commands": []}, r"tests\.commands: list should have at least 1 item"),
        ({"commands": [""]}, r"tests\.commands\[0\]: string should have at least 1 character"),
        ({"commands": ["true"], "timeout": 0}, r"tests\.timeout: input should be greater than 0"),
        ({"commands": ["true"], "timeout": 2e5}, r"tests\.timeout: input should be less than"),
        ({"commands": ["true"], "colour": "red"}, r"tests\.colour: unknown key"),
        ({"commands": ["true"], "host": "builder"}, r"tests: 'host' is only for provider static"),
        ({"timeout": 5}, r"tests\.commands: required key is missing"),
    ],
)
def test_bad_tests_are_refused_by_key(tests: dict[str, Any], message: str) -> None:
    data = sandbox_data()
    data["tests"] = tests
    with pytest.raises(InventoryError, match=message) as refused:
        parse(data)
    assert refused.value.exit_code == 2


def test_a_target_may_not_take_the_tests_name() -> None:
    data = sandbox_data()
    data["targets"][0]["name"] = "tests"
    parse(data)  # without tests, any name
    data["tests"] = {"commands": ["true"]}
    with pytest.raises(InventoryError, match="a target may not be called 'tests'"):
        parse(data)


def test_static_tests_must_name_a_host() -> None:
    data = sandbox_data()
    data.pop("environments")  # their servers are the sandbox's
    data["cloud"] = {"provider": "static", "hosts": [STATIC_HOST]}
    for target in data["targets"]:
        target["host"] = "builder"
    data["tests"] = {"commands": ["true"]}
    with pytest.raises(InventoryError, match=r"tests needs 'host' naming one of cloud\.hosts"):
        parse(data)
    data["tests"]["host"] = "builder"
    tests = parse(data).tests
    assert tests is not None and tests.host == "builder"
