"""``invoke inventory.check`` and ``invoke inventory.schema``."""

from __future__ import annotations

import json

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from orchestrator.cli.common import INVENTORY_HELP, inventory_path, load, reports_errors
from orchestrator.config.inventory import Inventory


@task(help={"inventory": INVENTORY_HELP})
@reports_errors
def check(c: Context, inventory: str | None = None) -> None:
    """Validate an inventory file and summarise it."""
    loaded = load(c, inventory)
    targets = ", ".join(t.name for t in loaded.targets)
    where = "sandbox" if loaded.uses_sandbox else loaded.cloud.provider
    print(
        f"{inventory_path(c, inventory)}: ok ({loaded.project.name}; {where}; targets: {targets})"
    )


@task
@reports_errors
def schema(c: Context) -> None:
    """Print the inventory's JSON Schema."""
    print(json.dumps(Inventory.model_json_schema(), indent=2))


namespace = Collection("inventory", check, schema)
