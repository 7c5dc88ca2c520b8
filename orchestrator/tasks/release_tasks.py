"""The top-level tasks: ``plan``, ``release``, ``teardown`` and ``status``."""

from __future__ import annotations

import json
import secrets

from invoke.context import Context
from invoke.tasks import task

from orchestrator import render
from orchestrator.cloud.endpoint import check_credentials, open_client
from orchestrator.errors import UsageError
from orchestrator.inventory import Inventory
from orchestrator.plan import Plan, is_run_id, make_plan, new_run_id
from orchestrator.tasks.common import INVENTORY_HELP, load, now, reports_errors
from orchestrator.teardown import Selection, select_droplets
from orchestrator.teardown import teardown as destroy_selected
from orchestrator.version import resolve_release

PLAN_HELP = {
    "tag": "release tag, vMAJOR.MINOR.PATCH[-PRERELEASE]",
    "nightly": "build a nightly version on top of the tag (channel nightly)",
    "json": "print JSON instead of text",
    "inventory": INVENTORY_HELP,
}


def plan_for(c: Context, tag: str, nightly: bool, inventory: str | None) -> tuple[Inventory, Plan]:
    """Validate the inventory and the tag, then plan; no network, no cloud call."""
    loaded = load(c, inventory)
    release = resolve_release(tag, nightly=nightly, now=now())
    plan = make_plan(loaded, release, new_run_id(now(), secrets.token_hex(3)))
    return loaded, plan


def print_plan(plan: Plan, as_json: bool) -> None:
    """Print a plan as text or JSON."""
    print(json.dumps(plan.to_dict(), indent=2) if as_json else render.plan_text(plan))


@task(help=PLAN_HELP)
@reports_errors
def plan(
    c: Context,
    tag: str = "",
    nightly: bool = False,
    json: bool = False,
    inventory: str | None = None,
) -> None:
    """Show what a release of TAG would do: run id, version, channel, droplets, commands."""
    _, planned = plan_for(c, tag, nightly, inventory)
    print_plan(planned, json)


@task(help={**PLAN_HELP, "dry_run": "print the plan and stop before any cloud call"})
@reports_errors
def release(
    c: Context,
    tag: str = "",
    nightly: bool = False,
    dry_run: bool = False,
    json: bool = False,
    inventory: str | None = None,
) -> None:
    """Release TAG: provision droplets, build, collect, sign and publish (see README)."""
    loaded, planned = plan_for(c, tag, nightly, inventory)
    check_credentials(loaded)
    if dry_run:
        print_plan(planned, json)
        return
    raise UsageError(
        "only 'invoke release --dry-run' is available in this version; "
        "use 'invoke cloud.check' for a provisioning round trip"
    )


@task(
    help={
        "run_id": "only the droplets of this run",
        "older_than": "only droplets older than this many minutes",
        "inventory": INVENTORY_HELP,
    }
)
@reports_errors
def teardown(
    c: Context,
    run_id: str | None = None,
    older_than: str | None = None,
    inventory: str | None = None,
) -> None:
    """Destroy the tool's droplets (all, one run's, or old ones) and wait until they are gone."""
    loaded = load(c, inventory)
    if run_id is not None and not is_run_id(run_id):
        raise UsageError(f"--run-id {run_id!r} is not a run id such as 20261122t103005-a1b2c3")
    minutes = _minutes(older_than)
    if loaded.cloud.provider == "static":
        print("provider static: nothing to tear down (static hosts are never created or destroyed)")
        return
    check_credentials(loaded)
    selection = Selection(loaded.cloud.tag_prefix, run_id, minutes)
    destroyed = destroy_selected(open_client(loaded), selection, now())
    if not destroyed:
        print(f"nothing to tear down: no droplet tagged {selection.tag} matches")
    for droplet in destroyed:
        print(f"destroyed {droplet.name} (id {droplet.id}, {', '.join(droplet.tags)})")


def _minutes(value: str | None) -> float | None:
    # Invoke passes flags whose default is None as strings.
    if value is None:
        return None
    try:
        minutes = float(value)
    except ValueError:
        minutes = -1.0
    if minutes < 0:
        raise UsageError(f"--older-than takes a number of minutes >= 0, got {value!r}")
    return minutes


@task(help={"inventory": INVENTORY_HELP})
@reports_errors
def status(c: Context, inventory: str | None = None) -> None:
    """List the tool's live droplets with age, size and cost so far."""
    loaded = load(c, inventory)
    if loaded.cloud.provider == "static":
        print("provider static: no droplets")
        return
    check_credentials(loaded)
    moment = now()
    droplets = select_droplets(open_client(loaded), Selection(loaded.cloud.tag_prefix), moment)
    print(render.droplets_table(droplets, moment))
