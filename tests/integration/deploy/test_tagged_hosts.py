"""Hosts selected by DigitalOcean droplet tag, their keys from a known_hosts file.

A droplet of the sandbox (a real sshd) is created with a host key the test made, as a
provisioning tool would; the environment finds it by tag and trusts only the key its
known_hosts file pins. Only read-only commands run on it (it shares this machine's
toolchain): the survey every deploy starts with.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from orchestrator.cloud.digitalocean import DigitalOceanClient, DropletRequest
from orchestrator.cloud.userdata import render_user_data
from orchestrator.deploy.commands import HostFiles
from orchestrator.deploy.survey import survey
from orchestrator.errors import UsageError
from orchestrator.sandbox import control
from orchestrator.sshkeys import generate_keypair
from orchestrator.tasks.wiring import deploy_seams
from tests.integration.conftest import SandboxWorld


def _tagged_world(world: SandboxWorld, known_hosts: Path, identity: Path) -> None:
    world.data["environments"] = [
        {
            "name": "web",
            "hosts": {
                "droplet_tag": "web",
                "known_hosts": str(known_hosts),
                "identity_file": str(identity),
                "network": "public",
            },
            "version": "*",
        }
    ]
    world.inventory_path.write_text(yaml.safe_dump(world.data))


def test_tagged_droplets_are_found_and_only_their_pinned_key_is_trusted(
    sandbox_world: SandboxWorld, tmp_path: Path
) -> None:
    info = control.ensure_running(sandbox_world.settings)
    client = DigitalOceanClient(info.token, info.api_url)
    host_key, login = generate_keypair("web-1 host"), generate_keypair("deployer")
    identity = tmp_path / "deployer"
    identity.write_text(login.private_openssh)
    identity.chmod(0o600)
    client.create_droplet(
        DropletRequest(
            name="web-1", region="sandbox1", size="s-1vcpu-1gb", image="debian-12-x64",
            tags=("web",),
            user_data=render_user_data(host_key.private_openssh, host_key.public_line, [login.public_line]),
        ),
        run_tag="web",
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        (droplet,) = client.list_droplets("web")
        if droplet.status == "active" and droplet.public_ipv4:
            break
        assert time.monotonic() < deadline, "the droplet did not become active"
        time.sleep(0.3)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{droplet.public_ipv4} {host_key.public_line}\n")
    _tagged_world(sandbox_world, known_hosts, identity)
    inventory = sandbox_world.inventory
    environment = inventory.environment("web")
    seams = deploy_seams(inventory)
    (access,) = seams.accesses(environment)
    assert (access.name, access.address) == ("web-1", droplet.public_ipv4)
    assert access.host_key == " ".join(host_key.public_line.split()[:2])
    files = HostFiles(tool="relorch", project="hello")
    read = survey([access], seams.connect, files, inventory.payload(environment))
    read.close()
    assert read.states["web-1"].records == ()

    # Another key in known_hosts: refused, never trusted on first use.
    impostor = generate_keypair("impostor")
    known_hosts.write_text(f"{droplet.public_ipv4} {impostor.public_line}\n")
    (access,) = deploy_seams(sandbox_world.inventory).accesses(environment)
    with pytest.raises(UsageError, match="host key mismatch"):
        survey([access], seams.connect, files, inventory.payload(environment))

    # No key at all for the droplet: refused before any connection.
    known_hosts.write_text("")
    with pytest.raises(UsageError, match="has no key in"):
        deploy_seams(sandbox_world.inventory).accesses(environment)
    client.delete_droplet(droplet.id)
