"""The sandbox's DigitalOcean API, started when a task first needs it."""

from __future__ import annotations

from orchestrator.cloud.digitalocean import DigitalOceanClient
from orchestrator.cloud.endpoint import open_client
from orchestrator.config.inventory import Inventory
from orchestrator.sandbox import control


def ensure_sandbox(inventory: Inventory) -> None:
    """Start the inventory's sandbox (and its repo server) unless it runs; nothing otherwise."""
    if inventory.cloud.sandbox is not None:
        control.ensure_running(inventory.cloud.sandbox)


def prepare_release_sandbox(inventory: Inventory) -> None:
    """Start what a release of ``inventory`` uses of its sandbox, before the run shows progress.

    The first start boots the Docker engine image targets build with, which takes a while
    and says so: better before the live view of the targets than inside it.
    """
    if inventory.cloud.sandbox is None:
        return
    if inventory.image_targets:
        control.ensure_images(inventory.cloud.sandbox)
    else:
        control.ensure_running(inventory.cloud.sandbox)
    if inventory.python_index is not None and inventory.python_index.sandbox:
        control.ensure_python_index(inventory.cloud.sandbox)


def cloud_client(inventory: Inventory) -> DigitalOceanClient:
    """A client for the inventory's DigitalOcean API: the sandbox's, started if need be."""
    sandbox = inventory.cloud.sandbox
    if sandbox is None:
        return open_client(inventory)
    info = control.ensure_running(sandbox)
    return DigitalOceanClient(info.token, info.api_url)
