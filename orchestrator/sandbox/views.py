"""The JSON shapes of DigitalOcean API v2 objects, rendered from the sandbox's records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.sandbox.catalog import (
    find_image,
    find_size,
    image_json,
    region_json,
    size_json,
)
from orchestrator.sandbox.state import ActionRecord, DropletRecord, KeyRecord


def _v4_networks(droplet: DropletRecord) -> list[dict[str, str]]:
    """The IPv4 interfaces, private first as in DigitalOcean's examples.

    DigitalOcean gives a private interface no gateway and says so with the string
    ``"nil"`` (its API reference, ``networks.v4[].gateway``).
    """
    public = {
        "ip_address": droplet.address,
        "netmask": droplet.netmask,
        "gateway": droplet.gateway,
        "type": "public",
    }
    if droplet.private is None:
        return [public]
    private = {
        "ip_address": droplet.private.address,
        "netmask": droplet.private.netmask,
        "gateway": "nil",
        "type": "private",
    }
    return [private, public]


def droplet_json(droplet: DropletRecord) -> dict[str, Any]:
    """A droplet; its addresses show once it left ``new``, as on DigitalOcean."""
    size = find_size(droplet.size)
    image = find_image(droplet.image)
    # Sizes and images were checked at creation; the catalogue only ever grows.
    assert size is not None and image is not None
    v4 = [] if droplet.status == "new" else _v4_networks(droplet)
    return {
        "id": droplet.id,
        "name": droplet.name,
        "memory": size.memory,
        "vcpus": size.vcpus,
        "disk": size.disk,
        "locked": droplet.locked,
        "status": droplet.status,
        "kernel": None,
        "created_at": droplet.created_at,
        "features": list(droplet.features),
        "backup_ids": [],
        "next_backup_window": None,
        "snapshot_ids": [],
        "image": image_json(image),
        "volume_ids": [],
        "size": size_json(size),
        "size_slug": size.slug,
        "networks": {"v4": v4, "v6": []},
        "region": region_json(droplet.region),
        "tags": list(droplet.tags),
        "vpc_uuid": droplet.vpc_uuid,
    }


def action_json(action: ActionRecord) -> dict[str, Any]:
    """An action on a droplet."""
    return {
        "id": action.id,
        "status": action.status,
        "type": action.type,
        "started_at": action.started_at,
        "completed_at": action.completed_at,
        "resource_id": action.resource_id,
        "resource_type": "droplet",
        "region": region_json(action.region_slug),
        "region_slug": action.region_slug,
    }


def key_json(key: KeyRecord) -> dict[str, Any]:
    """An SSH key of the account."""
    return {
        "id": key.id,
        "fingerprint": key.fingerprint,
        "public_key": key.public_key,
        "name": key.name,
    }


def tag_json(name: str, droplets: Sequence[DropletRecord], api_url: str) -> dict[str, Any]:
    """A tag with the count of droplets it is on (the only resources the sandbox has)."""
    tagged = [droplet for droplet in droplets if name in droplet.tags]
    last = f"{api_url}droplets/{tagged[-1].id}" if tagged else ""
    empty = {"count": 0, "last_tagged_uri": ""}
    return {
        "name": name,
        "resources": {
            "count": len(tagged),
            "last_tagged_uri": last,
            "droplets": {"count": len(tagged), "last_tagged_uri": last},
            "images": empty,
            "volumes": empty,
            "volume_snapshots": empty,
            "databases": empty,
        },
    }


def account_json(droplet_limit: int) -> dict[str, Any]:
    """The sandbox account."""
    return {
        "droplet_limit": droplet_limit,
        "floating_ip_limit": 3,
        "volume_limit": 100,
        "email": "sandbox@example.invalid",
        "name": "Sandbox",
        "uuid": "5a4981aa-9653-4bd1-bef5-d6bff52042e4",
        "email_verified": True,
        "status": "active",
        "status_message": "",
        "team": {"uuid": "5df3e3004a17d3b36ac48c4cf8eac6ba4f5b2c1c", "name": "Sandbox"},
    }
