"""The build hosts contract (tests/contracts) against sandbox droplets and a static host."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli.wiring.sandbox import cloud_client
from orchestrator.cloud.buildhosts import Machine
from orchestrator.cloud.droplets import RunDroplets
from orchestrator.cloud.static import StaticHosts
from orchestrator.remote.sshkeys import generate_keypair
from tests.contracts.build_hosts import check_build_hosts
from tests.integration.conftest import SandboxWorld, standalone_host

pytestmark = pytest.mark.integration


def test_droplets_keep_the_build_hosts_contract(
    sandbox_world: SandboxWorld, tmp_path: Path
) -> None:
    droplets = RunDroplets(
        cloud_client(sandbox_world.inventory),
        run_tag="relorch-run-20261122t103005-a1b2c3",
        client_key=generate_keypair(),
        max_droplets=2,
    )
    machine = Machine(
        "droplet", "relorch-contract", region="sandbox1", size="s-1vcpu-1gb",
        image="debian-12-x64", tags=("relorch", "relorch-run-20261122t103005-a1b2c3"),
    )  # fmt: skip
    check_build_hosts(droplets, machine, tmp_path)
    sandbox_world.assert_no_droplets()


def test_a_static_host_keeps_the_build_hosts_contract(tmp_path: Path) -> None:
    with standalone_host("builder") as access:
        check_build_hosts(StaticHosts({"builder": access}), Machine("static", "builder"), tmp_path)
