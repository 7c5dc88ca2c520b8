"""The seams' contracts against the fakes of orchestrator.testing (see tests/contracts)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.cloud.buildhosts import Machine
from orchestrator.testing.hosts import FakeBuildHosts
from orchestrator.testing.publish import MemoryTarget
from tests.contracts.build_hosts import check_build_hosts
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
