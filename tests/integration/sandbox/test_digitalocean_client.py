"""python-digitalocean 1.17.0 against the sandbox, exactly as against the real API."""

from __future__ import annotations

import ipaddress
from typing import Any

import digitalocean
import pytest

from orchestrator.cloud.digitalocean import DigitalOceanClient, DropletRequest
from orchestrator.sandbox import control

pytestmark = pytest.mark.integration


@pytest.fixture
def manager(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    # end_point= given to Manager is not passed on to the objects it returns: use the variable.
    monkeypatch.setenv("DIGITALOCEAN_END_POINT", sandbox.api_url)
    monkeypatch.setenv("PYTHON_DIGITALOCEAN_REQUEST_TIMEOUT_SEC", "10")
    return digitalocean.Manager(token=sandbox.token, end_point=sandbox.api_url)


def _droplet(sandbox: Any, name: str, **fields: Any) -> Any:
    return digitalocean.Droplet(
        token=sandbox.token,
        end_point=sandbox.api_url,
        name=name,
        region="nyc3",
        image="debian-12-x64",
        size_slug="s-1vcpu-1gb",
        **fields,
    )


def test_create_list_paginate_and_delete_by_tag(
    sandbox: Any, sandbox_config: Any, manager: Any, identity: Any, waiter: Any
) -> None:
    key = digitalocean.SSHKey(
        token=sandbox.token, end_point=sandbox.api_url, name="ci", public_key=identity.client_public
    )
    key.create()
    key.load()
    droplets = []
    for index in range(5):
        droplet = _droplet(
            sandbox,
            f"build-{index}",
            tags=["orchestrator", "run-1"],
            ssh_keys=[key.fingerprint],
            user_data=identity.user_data(),
        )
        droplet.create()
        droplets.append(droplet)

    listed = manager.get_all_droplets(tag_name="run-1")
    paged = manager.get_data("droplets/", params={"per_page": 2, "tag_name": "run-1"})
    waiter(lambda: droplets[0].load().status == "active", what="build-0 to boot")

    assert sorted(d.name for d in listed) == [f"build-{i}" for i in range(5)]
    assert [d["name"] for d in paged["droplets"]] == [f"build-{i}" for i in range(5)]
    assert droplets[0].ip_address
    assert droplets[0].size_slug == "s-1vcpu-1gb"
    assert manager.get_account().droplet_limit == 25
    assert {s.slug for s in manager.get_all_sizes()} >= {"s-1vcpu-1gb", "c-2"}
    assert [t.name for t in manager.get_all_tags()] == ["orchestrator", "run-1"]
    assert manager.get_all_sshkeys()[0].fingerprint == key.fingerprint

    assert manager.get_data("droplets?tag_name=run-1", type="DELETE") is True
    assert manager.get_all_droplets(tag_name="orchestrator") == []
    waiter(lambda: control.droplet_processes(sandbox_config) == [], what="hosts to stop")


def test_client_errors(sandbox: Any, sandbox_settings: Any, manager: Any) -> None:
    with pytest.raises(digitalocean.NotFoundError):
        digitalocean.Droplet(token=sandbox.token, end_point=sandbox.api_url, id=4242).load()
    with pytest.raises(digitalocean.DataReadError, match="Unable to authenticate you"):
        digitalocean.Manager(token="wrong", end_point=sandbox.api_url).get_account()
    with pytest.raises(digitalocean.DataReadError, match="Only valid hostname characters"):
        _droplet(sandbox, "under_score").create()

    limited = sandbox_settings(droplet_limit=1)
    info = control.start(limited)
    first = digitalocean.Droplet(
        token=info.token,
        end_point=info.api_url,
        name="one",
        region="nyc3",
        image="debian-12-x64",
        size_slug="s-1vcpu-1gb",
    )
    first.create()
    second = digitalocean.Droplet(
        token=info.token,
        end_point=info.api_url,
        name="two",
        region="nyc3",
        image="debian-12-x64",
        size_slug="s-1vcpu-1gb",
    )
    with pytest.raises(digitalocean.DataReadError, match="exceed your droplet limit"):
        second.create()
    assert first.destroy() is True


def test_power_action_through_the_client(sandbox: Any, manager: Any, waiter: Any) -> None:
    droplet = _droplet(sandbox, "power")
    droplet.create()
    waiter(lambda: droplet.load().status == "active", what="power to boot")

    action = droplet.power_off(return_dict=False)
    action.load()
    waiter(lambda: droplet.load().status == "off", what="power to be off")
    action.load()

    assert action.type == "power_off"
    assert action.status == "completed"
    assert [a.type for a in droplet.get_actions()] == ["create", "power_off"]


def test_the_tools_client_creates_in_a_vpc_and_reads_both_addresses(
    sandbox: Any, sandbox_config: Any, manager: Any, waiter: Any
) -> None:
    client = DigitalOceanClient(sandbox.token, sandbox.api_url)
    vpc = "5a4981aa-9653-4bd1-bef5-d6bff52042e4"
    request = DropletRequest(
        name="in-vpc", region="nyc3", size="s-1vcpu-1gb", image="debian-12-x64",
        tags=("vpc",), user_data="", vpc_uuid=vpc,
    )  # fmt: skip
    droplet_id = client.create_droplet(request, run_tag="vpc")

    def active() -> bool:
        found = client.get_droplet(droplet_id)
        return found is not None and found.status == "active"

    waiter(active, what="in-vpc to boot")
    info = client.get_droplet(droplet_id)
    loaded = manager.get_droplet(droplet_id)
    assert info is not None and info.private_ipv4 is not None and info.public_ipv4 is not None
    assert ipaddress.IPv4Address(info.private_ipv4) in ipaddress.IPv4Network(
        sandbox_config.private_address_pool
    )
    assert ipaddress.IPv4Address(info.public_ipv4) in ipaddress.IPv4Network(
        sandbox_config.address_pool
    )
    # python-digitalocean reads the same answer alike.
    assert (loaded.vpc_uuid, loaded.private_ip_address, loaded.ip_address) == (
        vpc,
        info.private_ipv4,
        info.public_ipv4,
    )
    client.delete_droplet(droplet_id)
