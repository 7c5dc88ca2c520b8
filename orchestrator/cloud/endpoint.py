"""Which DigitalOcean API an inventory talks to, and with which token.

A real account needs ``DIGITALOCEAN_ACCESS_TOKEN``; the end point is the real API unless
``cloud.api_endpoint`` names another. The sandbox's end point and token are wired in by
the tasks (``orchestrator.cli.wiring.sandbox``), so a rehearsal runs this same code.
"""

from __future__ import annotations

from orchestrator.cloud.digitalocean import REAL_API, DigitalOceanClient, token_from_environment
from orchestrator.config.inventory import Inventory
from orchestrator.errors import UsageError


def check_credentials(inventory: Inventory) -> None:
    """Fail with a usage error before any request when the inventory's cloud lacks a token."""
    if inventory.cloud.provider == "digitalocean" and inventory.cloud.sandbox is None:
        token_from_environment()


def open_client(inventory: Inventory) -> DigitalOceanClient:
    """A client for the inventory's real DigitalOcean account."""
    cloud = inventory.cloud
    if cloud.provider != "digitalocean":
        raise UsageError(
            f"provider {cloud.provider!r} has no droplets to manage: it uses the hosts in cloud.hosts"
        )
    if cloud.sandbox is not None:
        raise UsageError(
            "the sandbox's API is wired in by the tasks (orchestrator.cli.wiring.sandbox)"
        )
    return DigitalOceanClient(token_from_environment(), cloud.api_endpoint or REAL_API)
