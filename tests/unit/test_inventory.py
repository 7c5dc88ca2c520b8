import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.errors import InventoryError
from orchestrator.inventory import Inventory, load_inventory, parse_inventory

ROOT = Path(__file__).resolve().parents[2]


def sandbox_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
    return data


def parse(data: dict[str, Any], path: Path = Path("inv.yaml")) -> Inventory:
    return parse_inventory(yaml.safe_dump(data), path)


@pytest.mark.parametrize("name", ["sandbox.yaml", "digitalocean.example.yaml"])
def test_shipped_inventories_are_valid(name: str) -> None:
    inventory = load_inventory(ROOT / "inventory" / name)
    assert [t.name for t in inventory.targets] == [
        "amd64-deb",
        "arm64-deb",
        "amd64-rpm",
        "arm64-rpm",
    ]


def test_sandbox_inventory_uses_the_sandbox() -> None:
    inventory = load_inventory(ROOT / "inventory" / "sandbox.yaml")
    assert inventory.uses_sandbox
    assert inventory.cloud.sandbox is not None
    assert inventory.cloud.sandbox.state_dir == ROOT / ".orchestrator" / "sandbox"


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    inventory = parse(sandbox_data(), tmp_path / "sub" / "inv.yaml")
    assert inventory.project.source == (tmp_path / ".orchestrator" / "example" / "hello").resolve()


def test_unknown_key_names_file_and_key_path() -> None:
    data = sandbox_data()
    data["targets"][1]["colour"] = "blue"
    with pytest.raises(InventoryError) as info:
        parse(data, Path("inventory/broken.yaml"))
    message = str(info.value)
    assert message == "inventory/broken.yaml: targets[1].colour: unknown key"
    assert info.value.exit_code == 2


def test_wrong_type_names_what_is_expected() -> None:
    data = sandbox_data()
    data["cloud"]["max_droplets"] = "lots"
    with pytest.raises(InventoryError) as info:
        parse(data)
    message = str(info.value)
    assert message.startswith("inv.yaml: cloud.max_droplets: input should be a valid integer")
    assert "got 'lots'" in message
    assert "\n" not in message


def test_missing_section_and_wrong_literal() -> None:
    data = sandbox_data()
    del data["project"]
    data["targets"][0]["format"] = "apk"
    with pytest.raises(InventoryError) as info:
        parse(data)
    message = str(info.value)
    assert "project: required key is missing" in message
    assert "targets[0].format: input should be 'deb' or 'rpm', got 'apk'" in message


def test_publish_union_error_paths_are_plain() -> None:
    data = sandbox_data()
    data["publish"] = [{"kind": "s3", "name": "spaces", "bucket": "b", "url": "u", "colour": 1}]
    with pytest.raises(InventoryError, match=r"publish\[0\]\.colour: unknown key"):
        parse(data)


def test_yaml_syntax_error_has_line_and_column() -> None:
    with pytest.raises(InventoryError, match=r"^inv.yaml:3:1: invalid YAML: expected"):
        parse_inventory("project:\n  name: [unclosed\n", Path("inv.yaml"))


def test_missing_file() -> None:
    with pytest.raises(InventoryError, match="inventory file not found"):
        load_inventory(Path("/nonexistent/inv.yaml"))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["targets"].append(dict(d["targets"][0])),
            "duplicate targets names: amd64-deb",
        ),
        (lambda d: d["targets"][0].update(artifacts=["dist/*.deb; rm -rf /"]), "artifact glob"),
        (lambda d: d["targets"][0].update(artifacts=["../secret"]), "artifact glob"),
        (lambda d: d["targets"][0].update(host="h1"), "'host' is only for provider static"),
        (lambda d: d["cloud"].update(ssh_keys=["ssh-ed25519 AAAA"]), "not a key id or an MD5"),
        (lambda d: d["cloud"].update(api_endpoint="https://api.example.org/v1"), "ending in /v2/"),
        (lambda d: d["cloud"]["sandbox"].update(api_host="10.0.0.1"), "cloud.sandbox.api_host"),
        (lambda d: d["cloud"].update(tag_prefix="Bad Prefix"), "cloud.tag_prefix"),
        (lambda d: d["project"].update(name="Hello World"), "project.name"),
    ],
)
def test_semantic_errors(mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    data = sandbox_data()
    mutate(data)
    with pytest.raises(InventoryError, match=expected.replace("[", r"\[").replace("*", r"\*")):
        parse(data)


def test_static_targets_must_name_a_host() -> None:
    data = sandbox_data()
    data["cloud"] = {
        "provider": "static",
        "hosts": [{"name": "builder", "address": "127.0.0.1", "host_key": "ssh-ed25519 AAAA"}],
    }
    with pytest.raises(InventoryError, match=r"needs 'host' naming one of cloud\.hosts"):
        parse(data)
    for target in data["targets"]:
        target["host"] = "builder"
    assert parse(data).cloud.provider == "static"


def test_json_schema_describes_every_section() -> None:
    schema = Inventory.model_json_schema()
    assert set(schema["required"]) == {"project", "cloud", "targets"}
    assert schema["additionalProperties"] is False
    json.dumps(schema)
