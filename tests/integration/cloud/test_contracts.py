"""The build hosts contract (tests/contracts) against sandbox droplets and a static host."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from orchestrator.cloud.droplets import RunDroplets
from orchestrator.cloud.static import StaticHosts
from orchestrator.fleet import HostAccess
from orchestrator.operations import Machine
from orchestrator.sandbox import hosts
from orchestrator.sandbox.machines import toolchain
from orchestrator.sshkeys import generate_keypair
from orchestrator.tasks.wiring import cloud_client
from tests.conftest import free_port, new_test_directory
from tests.contracts.build_hosts import check_build_hosts
from tests.integration.conftest import SandboxWorld

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
    directory = new_test_directory() / "host"
    host_key, client_key = generate_keypair(), generate_keypair()
    address = (
        f"127.{secrets.randbelow(100) + 100}.{secrets.randbelow(256)}.{secrets.randbelow(200) + 2}"
    )
    shared, path = toolchain()
    spec = hosts.HostSpec(
        directory, address, free_port(), host_key.private_openssh, (client_key.public_line,),
        shared, path,
    )  # fmt: skip
    hosts.start_host(spec)
    try:
        access = HostAccess(
            "builder", address, spec.port, "root", host_key.public_line,
            client_key=client_key.pkey(),
        )  # fmt: skip
        check_build_hosts(StaticHosts({"builder": access}), Machine("static", "builder"), tmp_path)
    finally:
        hosts.destroy_host(directory.parent)
