"""Verifying every repository an inventory publishes: what ``invoke verify`` and releases call."""

from __future__ import annotations

from orchestrator.inventory import SANDBOX_HOST_KEY, Inventory, SshPublish
from orchestrator.publish.info import Report
from orchestrator.publish.run import select
from orchestrator.sandbox import control
from orchestrator.verify.checks import check_repository
from orchestrator.verify.expectations import expectations
from orchestrator.verify.table import CheckResult


def _uses_sandbox_server(inventory: Inventory) -> bool:
    return any(
        isinstance(target, SshPublish) and target.host_key == SANDBOX_HOST_KEY
        for target in inventory.publish
    )


def verify_inventory(
    inventory: Inventory,
    *,
    version: str | None = None,
    channel: str | None = None,
    target: str | None = None,
    report: Report = print,
) -> list[CheckResult]:
    """Check each publish target's repository (or the one named) with the real clients.

    ``version`` is a package version (``1.2.3``, ``1.3.0~rc.1``) that must be offered;
    ``channel`` limits the checks to one channel (default: the version's channel, or every
    channel the target publishes).
    """
    chosen = select(inventory.publish, target)
    if inventory.cloud.sandbox is not None and _uses_sandbox_server(inventory):
        # Its HTTP server serves what was published, also across sandbox restarts.
        control.ensure_running(inventory.cloud.sandbox)
    expect = expectations(inventory, version, channel)
    results: list[CheckResult] = []
    for config in chosen:
        report(f"verifying {config.name} at {config.url}")
        results += check_repository(config.name, config.url, expect)
    return results
