"""The seams' contracts against the fakes of orchestrator.testing (see tests/contracts).

The real deploy hosts too, for the hosts an inventory lists: reaching them needs no sandbox.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from orchestrator.cli.wiring.deploy import SshDeployHosts
from orchestrator.cloud.buildhosts import Machine
from orchestrator.config.environments import Environment
from orchestrator.config.inventory import Inventory, parse_inventory
from orchestrator.testing.deploy import FakeDeployHosts
from orchestrator.testing.hosts import FakeBuildHosts
from orchestrator.testing.publish import MemoryTarget
from tests.contracts.build_hosts import check_build_hosts
from tests.contracts.deploy_hosts import check_listed_hosts
from tests.contracts.publish_target import PAGE, check_deploy_ledger, check_publish_target


def test_the_memory_target_keeps_the_publish_target_contract(tmp_path: Path) -> None:
    target = MemoryTarget(page=PAGE)
    check_publish_target(
        target, tmp_path, lambda url: target.files.get(url.removeprefix(f"{target.url}/"))
    )


def test_the_memory_target_keeps_the_deploy_ledger_contract(tmp_path: Path) -> None:
    target = MemoryTarget(page=PAGE)

    def store(data: bytes) -> None:
        target.ledger = data

    check_deploy_ledger(
        target, tmp_path, lambda url: target.files.get(url.removeprefix(f"{target.url}/")), store
    )


def test_the_fake_hosts_keep_the_build_hosts_contract(tmp_path: Path) -> None:
    check_build_hosts(FakeBuildHosts(), Machine("droplet", "contract-host"), tmp_path)


EXAMPLE = Path(__file__).resolve().parents[2] / "inventory" / "digitalocean.example.yaml"


def _listed_inventory() -> tuple[Inventory, Environment]:
    """The example's prod, its second host reached otherwise in every way a host may be."""
    data = yaml.safe_load(EXAMPLE.read_text())
    prod = next(e for e in data["environments"] if e["name"] == "prod")
    prod["hosts"][1].update(
        port=2222, user="deploy", become="sudo", identity_file="/etc/relorch/deploy_key"
    )
    inventory = parse_inventory(yaml.safe_dump(data), EXAMPLE)
    return inventory, inventory.environment("prod")


def test_the_fake_deploy_hosts_keep_the_listed_hosts_contract() -> None:
    _, environment = _listed_inventory()
    check_listed_hosts(FakeDeployHosts({}), environment)


def test_the_ssh_deploy_hosts_keep_the_listed_hosts_contract() -> None:
    inventory, environment = _listed_inventory()
    check_listed_hosts(SshDeployHosts(inventory), environment)
