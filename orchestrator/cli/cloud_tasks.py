"""``invoke cloud.check``: a provisioning round trip against the inventory's cloud."""

from __future__ import annotations

import secrets

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from orchestrator.cli.common import INVENTORY_HELP, load, now, reports_errors
from orchestrator.cli.wiring.sandbox import cloud_client
from orchestrator.cloud.check import check_droplets
from orchestrator.cloud.endpoint import check_credentials
from orchestrator.engine.run_ids import new_run_id
from orchestrator.release.plan import make_plan
from orchestrator.version import Revision, parse_tag


@task(
    help={
        "tag": "release tag the droplets are named after (default v0.0.0)",
        "inventory": INVENTORY_HELP,
    }
)
@reports_errors
def check(c: Context, tag: str = "v0.0.0", inventory: str | None = None) -> None:
    """Create the plan's droplets, log in to each with its pinned host key, destroy them."""
    loaded = load(c, inventory)
    # A check builds nothing: the droplets are named after the tag, no commit is exported.
    run_id = new_run_id(now(), secrets.token_hex(3))
    planned = make_plan(loaded, parse_tag(tag), Revision(tag, ""), run_id)
    check_credentials(loaded)
    print(f"run {planned.run_id}: creating {len(planned.droplets)} droplet(s)")
    results = check_droplets(
        cloud_client(loaded),
        planned,
        boot_timeout=loaded.cloud.boot_timeout,
        ssh_keys=tuple(loaded.cloud.ssh_keys),
        report=lambda line: print(line, flush=True),
    )
    for result in results:
        print(
            f"ok {result.name} {result.address}: {result.output} (ready in {result.seconds_to_ready:.1f}s)"
        )
    print(f"all {len(results)} droplet(s) answered and were destroyed")


namespace = Collection("cloud", check)
