"""Verifying every repository an inventory publishes: what ``invoke verify`` and releases call."""

from __future__ import annotations

from orchestrator.config.inventory import Inventory
from orchestrator.images.registry import Registry
from orchestrator.publish.info import Say
from orchestrator.publish.run import select
from orchestrator.verify.checks import check_repository
from orchestrator.verify.expectations import expectations
from orchestrator.verify.images import check_images
from orchestrator.verify.python import check_python
from orchestrator.verify.table import CheckResult


def verify_inventory(
    inventory: Inventory,
    *,
    version: str | None = None,
    channel: str | None = None,
    target: str | None = None,
    registry: Registry | None = None,
    python_index: str | None = None,
    say: Say = print,
) -> list[CheckResult]:
    """Check each publish target's repository (or the one named) with the real clients.

    ``version`` is a package version (``1.2.3``, ``1.3.0~rc.1``) that must be offered;
    ``channel`` limits the checks to one channel (default: the version's channel, or every
    channel the target publishes). With ``registry``, the image targets' images too; with
    ``python_index`` (its simple URL), the Python distribution, installed with pip.
    """
    # An inventory of images only has no repository to check, only its registry.
    chosen = select(inventory.publish, target) if inventory.publish or target else []
    expect = expectations(inventory, version, channel)
    results: list[CheckResult] = []
    for config in chosen:
        say(f"verifying {config.name} at {config.url}")
        results += check_repository(config.name, config.url, expect)
    if registry is not None and target is None:
        say(f"verifying the images at {registry.where}")
        results += check_images(inventory, registry, version)
    if python_index is not None and target is None:
        say(f"verifying the Python distribution at {python_index}")
        results.append(check_python(inventory.project.name, python_index, version))
    return results
