"""Hosts selected by DigitalOcean droplet tag, their keys from a known_hosts file.

A droplet of the sandbox (a real sshd) is created with a host key the test made, as a
provisioning tool would; the environment finds it by tag and trusts only the key its
known_hosts file pins, on the address of the network the environment names (public, or
private: its VPC address). Only read-only commands run on it (it shares this machine's
toolchain): the survey every deploy starts with.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from orchestrator.cli.wiring.deploy import deploy_seams
from orchestrator.cloud.digitalocean import DigitalOceanClient, DropletInfo, DropletRequest
from orchestrator.cloud.userdata import render_user_data
from orchestrator.commands.deploy import HostFiles
from orchestrator.deploy.payload import payload_of
from orchestrator.deploy.survey import survey
from orchestrator.errors import UsageError
from orchestrator.remote.sshkeys import KeyPair, generate_keypair
from orchestrator.sandbox import control
from tests.integration.conftest import SandboxWorld


def _tagged_world(
    world: SandboxWorld, known_hosts: Path, identity: Path, network: str = "public"
) -> None:
    world.data["environments"] = [
        {
            "name": "web",
            "hosts": {
                "droplet_tag": "web",
                "known_hosts": str(known_hosts),
                "identity_file": str(identity),
                "network": network,
            },
            "version": "*",
        }
    ]
    world.inventory_path.write_text(yaml.safe_dump(world.data))


def _login(tmp_path: Path) -> tuple[KeyPair, Path]:
    login = generate_keypair("deployer")
    identity = tmp_path / "deployer"
    identity.write_text(login.private_openssh)
    identity.chmod(0o600)
    return login, identity


def _tagged_droplet(
    client: DigitalOceanClient, name: str, host_key: KeyPair, login: KeyPair
) -> DropletInfo:
    """A droplet tagged web, made as a provisioning tool would, once it is active."""
    client.create_droplet(
        DropletRequest(
            name=name, region="sandbox1", size="s-1vcpu-1gb", image="debian-12-x64",
            tags=("web",),
            user_data=render_user_data(host_key.private_openssh, host_key.public_line, [login.public_line]),
        ),
        run_tag="web",
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        (droplet,) = [d for d in client.list_droplets("web") if d.name == name]
        if droplet.status == "active" and droplet.public_ipv4:
            return droplet
        assert time.monotonic() < deadline, f"{name} did not become active"
        time.sleep(0.3)


def test_tagged_droplets_are_found_and_only_their_pinned_key_is_trusted(
    sandbox_world: SandboxWorld, tmp_path: Path
) -> None:
    info = control.ensure_running(sandbox_world.settings)
    client = DigitalOceanClient(info.token, info.api_url)
    host_key, (login, identity) = generate_keypair("web-1 host"), _login(tmp_path)
    droplet = _tagged_droplet(client, "web-1", host_key, login)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{droplet.public_ipv4} {host_key.public_line}\n")
    _tagged_world(sandbox_world, known_hosts, identity)
    inventory = sandbox_world.inventory
    environment = inventory.environment("web")
    seams = deploy_seams(inventory)
    (access,) = seams.hosts.accesses(environment)
    assert (access.name, access.address) == ("web-1", droplet.public_ipv4)
    assert access.host_key == " ".join(host_key.public_line.split()[:2])
    files = HostFiles(tool="relorch", project="hello")
    read = survey([access], seams.hosts.connect, files, payload_of(inventory, environment))
    read.close()
    assert read.states["web-1"].records == ()

    # Another key in known_hosts: refused, never trusted on first use.
    impostor = generate_keypair("impostor")
    known_hosts.write_text(f"{droplet.public_ipv4} {impostor.public_line}\n")
    (access,) = deploy_seams(sandbox_world.inventory).hosts.accesses(environment)
    with pytest.raises(UsageError, match="host key mismatch"):
        survey([access], seams.hosts.connect, files, payload_of(inventory, environment))

    # No key at all for the droplet: refused before any connection.
    known_hosts.write_text("")
    with pytest.raises(UsageError, match="has no key in"):
        deploy_seams(sandbox_world.inventory).hosts.accesses(environment)
    client.delete_droplet(droplet.id)


def test_on_the_private_network_tagged_droplets_are_reached_on_their_vpc_address(
    sandbox_world: SandboxWorld, tmp_path: Path
) -> None:
    info = control.ensure_running(sandbox_world.settings)
    client = DigitalOceanClient(info.token, info.api_url)
    host_key, (login, identity) = generate_keypair("web-1 host"), _login(tmp_path)
    droplet = _tagged_droplet(client, "web-1", host_key, login)
    assert droplet.private_ipv4 is not None
    # Pinned by its private address only, as known_hosts inside the VPC would have it.
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{droplet.private_ipv4} {host_key.public_line}\n")
    _tagged_world(sandbox_world, known_hosts, identity, network="private")
    inventory = sandbox_world.inventory
    environment = inventory.environment("web")
    seams = deploy_seams(inventory)
    (access,) = seams.hosts.accesses(environment)
    assert (access.name, access.address) == ("web-1", droplet.private_ipv4)
    files = HostFiles(tool="relorch", project="hello")
    read = survey([access], seams.hosts.connect, files, payload_of(inventory, environment))
    read.close()
    assert read.states["web-1"].records == ()

    # A droplet without a private address: the whole environment is refused, no host read.
    sandbox_world.rewrite(faults=[{"kind": "no_private_address", "name": "^web-legacy$"}])
    legacy = _tagged_droplet(client, "web-legacy", generate_keypair("legacy host"), login)
    assert legacy.private_ipv4 is None
    with pytest.raises(UsageError) as refused:
        deploy_seams(sandbox_world.inventory).hosts.accesses(environment)
    assert refused.value.exit_code == 2
    assert str(refused.value) == (
        f"environment web: droplet web-legacy ({legacy.id}, active) has no private IPv4 "
        "address, and hosts.network is private: set hosts.network: public to reach droplets "
        "on their public address"
    )
    for created in (droplet, legacy):
        client.delete_droplet(created.id)
