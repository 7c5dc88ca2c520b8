"""The top-level tasks: ``plan``, ``release``, ``teardown`` and ``status``."""

from __future__ import annotations

import functools
import secrets
import sys
from json import dumps
from pathlib import Path
from typing import TextIO

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from orchestrator.cli.common import (
    INVENTORY_HELP,
    load,
    now,
    number_flag,
    progress_printer,
    reports_errors,
)
from orchestrator.cli.deploy_tasks import conclude, interruptible
from orchestrator.cli.wiring.deploy import deploy_seams
from orchestrator.cli.wiring.pyindex import check_python_token
from orchestrator.cli.wiring.release import release_seams
from orchestrator.cli.wiring.sandbox import cloud_client, prepare_release_sandbox
from orchestrator.cloud.endpoint import check_credentials
from orchestrator.config.inventory import Inventory
from orchestrator.deploy.actions import auto_environments
from orchestrator.deploy.records import Audit
from orchestrator.deploy.request import DeployRequest, ci_job, who_asked
from orchestrator.deploy.run import DeployOutcome, run_deploy
from orchestrator.engine.interrupts import InterruptHandler, handling_interrupts
from orchestrator.engine.locks import break_directory_lock, parse_details, read_directory_lock
from orchestrator.engine.progress import progress_for
from orchestrator.engine.run_ids import is_run_id, new_run_id
from orchestrator.errors import OrchestratorError, UsageError
from orchestrator.notify import Event, notify, webhooks_of
from orchestrator.release import render
from orchestrator.release.plan import RELEASE_LOCK, Plan, PlanOptions, make_plan
from orchestrator.release.report import write_report
from orchestrator.release.run import ReleaseOptions, run_release
from orchestrator.release.source import release_to_build
from orchestrator.release.summary import RunSummary, summary_text
from orchestrator.release.teardown import Selection, select_droplets
from orchestrator.release.teardown import teardown as destroy_selected
from orchestrator.repo.gpghomes import sweep_stale_homes
from orchestrator.semver import semver_of_package

LOCK_WAIT_DEFAULT = "300"
MAX_LOCK_WAIT = 86400.0
MAX_MINUTES = 10 * 365 * 24 * 60.0

PLAN_HELP = {
    "tag": "release tag, vMAJOR.MINOR.PATCH[-PRERELEASE]",
    "nightly": (
        "build a nightly of --ref (default HEAD; or of --tag), versioned from the latest "
        "release tag it contains (channel nightly)"
    ),
    "ref": "with --nightly: the branch, tag or commit to build (default HEAD)",
    "json": "print JSON instead of text",
    "inventory": INVENTORY_HELP,
}


def plan_for(
    c: Context,
    tag: str,
    nightly: bool,
    ref: str | None,
    inventory: str | None,
    options: PlanOptions | None = None,
) -> tuple[Inventory, Plan]:
    """Validate the tag, the inventory and the source's commit, then plan; no cloud call."""
    loaded = load(c, inventory)
    release, revision = release_to_build(
        loaded.project.source, tag=tag, nightly=nightly, ref=ref, now=now()
    )
    run_id = new_run_id(now(), secrets.token_hex(3))
    return loaded, make_plan(loaded, release, revision, run_id, options)


def print_plan(plan: Plan, as_json: bool) -> None:
    """Print a plan as text or JSON."""
    print(dumps(plan.to_dict(), indent=2) if as_json else render.plan_text(plan))


@task(help=PLAN_HELP)
@reports_errors
def plan(
    c: Context,
    tag: str = "",
    nightly: bool = False,
    ref: str | None = None,
    json: bool = False,
    inventory: str | None = None,
) -> None:
    """Show what a release of TAG would do: run id, version, channel, droplets, commands."""
    _, planned = plan_for(c, tag, nightly, ref, inventory)
    print_plan(planned, json)


@task(
    help={
        **PLAN_HELP,
        "dry_run": "print the plan and stop before any cloud call",
        "json": "print the plan (with --dry-run) or the run summary as JSON on stdout",
        "resume": "reuse the verified artifacts of the last interrupted run of this tag",
        "force": "release again even if the tag is already published",
        "verify": "after publishing, check the repositories with real apt, dnf and zypper",
        "lock_wait": "seconds to wait for another release's publish lock (default 300)",
        "no_deploy": "do not deploy to the inventory's auto environments after publishing",
        "skip_tests": "release without running the inventory's tests (the summary says so)",
    }
)
@reports_errors
def release(
    c: Context,
    tag: str = "",
    nightly: bool = False,
    ref: str | None = None,
    dry_run: bool = False,
    json: bool = False,
    resume: bool = False,
    force: bool = False,
    verify: bool = False,
    lock_wait: str = LOCK_WAIT_DEFAULT,
    no_deploy: bool = False,
    skip_tests: bool = False,
    inventory: str | None = None,
) -> None:
    """Release TAG: test, build, sign, publish, deploy to auto environments; exit 0/1/2/130/143."""
    wait = number_flag(lock_wait, "--lock-wait", maximum=MAX_LOCK_WAIT)
    options = PlanOptions(verify=verify, lock_wait=wait, skip_tests=skip_tests)
    loaded, planned = plan_for(c, tag, nightly, ref, inventory, options)
    check_credentials(loaded)
    check_python_token(loaded)
    if dry_run:
        print_plan(planned, json)
        return
    prepare_release_sandbox(loaded)
    # With --json, stdout carries only the summary; progress goes to stderr.
    out = sys.stderr if json else sys.stdout
    programs = [program.name for batch in planned.batches for program in batch]
    progress = progress_for(programs, out)
    try:
        with handling_interrupts() as interrupts:
            summary = run_release(
                loaded,
                planned,
                release_seams(loaded),
                progress,
                options=ReleaseOptions(resume=resume, force=force),
                interrupts=interrupts,
                say=lambda line: print(line, file=out, flush=True),
            )
    finally:
        progress.close()
    write_report(summary, Path(summary.report or ""))
    print(dumps(summary.to_json(), indent=2) if json else summary_text(summary))
    if summary.status == "published":
        _notify_release(loaded, summary, out)
    if summary.exit_code:
        raise Exit(code=summary.exit_code)
    if summary.status == "published" and not no_deploy:
        # A nightly too: an environment that takes nightlies is how a push to a branch
        # reaches it (release --nightly --ref BRANCH from the branch's CI job).
        version = semver_of_package(planned.version)
        assert version is not None  # a release's package version is always one
        _auto_deploy(loaded, version, planned.channel, out)


def _notify_release(loaded: Inventory, summary: RunSummary, out: TextIO) -> None:
    """Tell the inventory's webhooks that the release was published."""
    event = Event(
        "release", loaded.project.name, summary.version, summary.status,
        f"{summary.tag} published to {summary.channel}", summary.run_id,
        report=summary.report,
    )  # fmt: skip
    notify(webhooks_of(loaded), event, functools.partial(print, file=out, flush=True))


def _auto_deploy(loaded: Inventory, version: str, channel: str, out: TextIO) -> None:
    """Deploy ``version`` to every auto environment that takes it; exit 1 if one fails.

    A failed deploy never un-publishes: the release stands, the environment went back.
    """
    failed = []
    seams = deploy_seams(loaded)
    say = progress_printer(out)
    for environment in auto_environments(loaded, version, channel):
        say(f"deploying {version} to {environment.name} (auto)")
        # An environment of several services takes the release for the project's own,
        # and what their ranges take for the others.
        several = len(environment.image_services) > 1
        request = DeployRequest(
            environment.name, None if several else version, "deploy",
            Audit(who_asked(), ci_job()), 300.0, auto=True,
            release=version if several else None,
        )  # fmt: skip

        def deploy(signals: InterruptHandler, request: DeployRequest = request) -> DeployOutcome:
            return run_deploy(loaded, request, seams, say=say, signals=signals)

        try:
            outcome = interruptible(deploy)
        except OrchestratorError as error:
            failed.append(f"{environment.name}: {error}")
            continue
        say(outcome.message)
        conclude(loaded, outcome, say)
        if outcome.status == "interrupted":
            # Ctrl-C ends the release's deploys, not just this one.
            print(f"error: {outcome.message}", file=sys.stderr)
            raise Exit(code=outcome.exit_code)
        if outcome.exit_code:
            failed.append(outcome.message)
    if failed:
        print(
            "error: auto-deploy failed (the release stays published): " + " | ".join(failed),
            file=sys.stderr,
        )
        raise Exit(code=1)


@task(
    help={
        "force": "remove the lock even though its holder may still run",
        "inventory": INVENTORY_HELP,
    }
)
@reports_errors
def unlock(c: Context, force: bool = False, inventory: str | None = None) -> None:
    """Show who holds the workspace's release lock; --force breaks one whose run is gone."""
    path = load(c, inventory).workspace / RELEASE_LOCK
    if force:
        held = break_directory_lock(path)
        holder = parse_details(held) if held else None
        print(f"removed the release lock of {holder.describe()}" if holder else "not locked")
        return
    holder = read_directory_lock(path)
    if holder is None:
        print("not locked" if not path.exists() else f"locked (details unreadable): {path}")
        return
    print(f"locked by {holder.describe()}; pass --force if that run is not running any more")


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
    if run_id is not None and not is_run_id(run_id):
        shown = run_id[:40]
        raise UsageError(f"--run-id {shown!r} is not a run id such as 20261122t103005-a1b2c3")
    minutes = None
    if older_than is not None:
        minutes = number_flag(older_than, "--older-than", maximum=MAX_MINUTES)
    loaded = load(c, inventory)
    # A run killed outright leaves its temporary keyring (a private key) and its agent.
    for home in sweep_stale_homes():
        print(f"wiped the keyring {home} of a run that is gone")
    if loaded.cloud.provider == "static":
        print("provider static: nothing to tear down (static hosts are never created or destroyed)")
        return
    check_credentials(loaded)
    selection = Selection(loaded.cloud.tag_prefix, run_id, minutes)
    destroyed = destroy_selected(cloud_client(loaded), selection, now())
    if not destroyed:
        print(f"nothing to tear down: no droplet tagged {selection.tag} matches")
    for droplet in destroyed:
        print(f"destroyed {droplet.name} (id {droplet.id}, {', '.join(droplet.tags)})")


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
    droplets = select_droplets(cloud_client(loaded), Selection(loaded.cloud.tag_prefix), moment)
    print(render.droplets_table(droplets, moment))
