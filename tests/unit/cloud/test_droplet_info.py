"""A droplet as the API describes it: which address is on which network."""

from __future__ import annotations

from typing import Any

from orchestrator.cloud.digitalocean import DropletInfo, not_on_network


def droplet(*networks: dict[str, str]) -> dict[str, Any]:
    return {
        "id": 7,
        "name": "relorch-hello-amd64-deb-x",
        "status": "active",
        "created_at": "2026-11-22T10:30:05Z",
        "networks": {"v4": list(networks), "v6": []},
    }


# DigitalOcean lists the private interface first and writes its missing gateway as "nil".
PRIVATE = {"ip_address": "10.116.0.2", "netmask": "255.255.240.0", "gateway": "nil", "type": "private"}  # fmt: skip
PUBLIC = {"ip_address": "203.0.113.7", "netmask": "255.255.240.0", "gateway": "203.0.113.1", "type": "public"}  # fmt: skip


def test_each_address_is_found_by_its_type_not_its_place() -> None:
    info = DropletInfo.from_api(droplet(PRIVATE, PUBLIC))

    assert (info.public_ipv4, info.private_ipv4) == ("203.0.113.7", "10.116.0.2")
    assert info.ipv4("public") == "203.0.113.7"
    assert info.ipv4("private") == "10.116.0.2"


def test_a_droplet_without_a_vpc_address_has_no_private_one() -> None:
    info = DropletInfo.from_api(droplet(PUBLIC))

    assert (info.public_ipv4, info.private_ipv4) == ("203.0.113.7", None)
    assert info.ipv4("private") is None


def test_a_new_droplet_has_no_address_yet() -> None:
    info = DropletInfo.from_api(droplet())

    assert (info.ipv4("public"), info.ipv4("private")) == (None, None)


def test_a_droplet_off_the_asked_network_is_explained_with_the_way_out() -> None:
    info = DropletInfo.from_api(droplet(PUBLIC))

    assert not_on_network(info, "private", "cloud.network") == (
        "droplet relorch-hello-amd64-deb-x (7, active) has no private IPv4 address, and "
        "cloud.network is private: set cloud.network: public to reach droplets on their "
        "public address"
    )
