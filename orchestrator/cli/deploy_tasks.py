"""Deploy tasks: ``deploy``, ``promote`` and the ``env`` namespace (status, unlock, rollback)."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from json import dumps
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from orchestrator.cli.common import (
    INVENTORY_HELP,
    inventory_path,
    load,
    number_flag,
    progress_printer,
    reports_errors,
)
from orchestrator.cli.pins import PUSH_HELP, PinRequest, pins_for, repository_for, write_pins
from orchestrator.cli.wiring.deploy import deploy_seams
from orchestrator.cli.wiring.publish import with_publish_access
from orchestrator.commands import deploy as commands
from orchestrator.commands.deploy import host_files, sudoers_file
from orchestrator.config.environments import Environment
from orchestrator.config.inventory import Inventory, PublishConfig
from orchestrator.deploy import actions
from orchestrator.deploy.candidate import promotion_pick
from orchestrator.deploy.choose import published
from orchestrator.deploy.index import Available, published_times
from orchestrator.deploy.ledger import FailureLedger
from orchestrator.deploy.page import page_data, promotion_order, render_page
from orchestrator.deploy.payload import Payload, payload_of
from orchestrator.deploy.plan import CONTROL_TIMEOUT
from orchestrator.deploy.records import Audit
from orchestrator.deploy.render import describe_plan, describe_status
from orchestrator.deploy.report import write_deploy_report
from orchestrator.deploy.request import DeployRequest, ci_job, who_asked
from orchestrator.deploy.run import DeployOutcome, run_deploy
from orchestrator.deploy.seams import DeploySeams
from orchestrator.deploy.sets import set_text
from orchestrator.deploy.status import environment_status
from orchestrator.deploy.survey import Surveys, upstream_chain
from orchestrator.engine.atomic import write_atomically
from orchestrator.engine.interrupts import Interrupted, InterruptHandler, handling_interrupts
from orchestrator.engine.locks import parse_details
from orchestrator.engine.run_ids import new_run_id
from orchestrator.errors import OrchestratorError, UsageError
from orchestrator.notify import Event, notify, webhooks_of
from orchestrator.publish.run import resolve, select
from orchestrator.publish.target import PublishTarget, page_path
from orchestrator.semver import parse_range

STOPPING = "stopping the deploy; the hosts it touched go back to the version they ran"
CLEANING = "putting the touched hosts back, recording and releasing the lock"
LOCK_WAIT_DEFAULT = "300"
MAX_LOCK_WAIT = 86400.0
# The page waits for a release's publish to finish before it goes beside it.
PAGE_LOCK_WAIT = 300.0
_COMMON = {
    "dry_run": "print every host, batch and command; reads the hosts (one read-only round trip each) and changes nothing",
    "json": "print the outcome as JSON on stdout (progress goes to stderr)",
    "lock_wait": "seconds to wait for the environment's lock (default 300); after a failure, as long for the first publish target's, to write the deploy ledger",
    "inventory": INVENTORY_HELP,
}


def conclude(
    loaded: Inventory, outcome: DeployOutcome, say: Callable[[str], None]
) -> dict[str, Any]:
    """Write a finished deploy's report and tell the webhooks; its summary, report included.

    A dry run or a deploy that changed nothing has no report and tells no one.
    """
    summary = outcome.to_json()
    if outcome.status in ("planned", "unchanged"):
        return summary
    report = write_deploy_report(summary, loaded.project.name, loaded.workspace)
    summary["report"] = str(report)
    say(f"report: {report}")
    event = Event(
        outcome.action, loaded.project.name, outcome.version, outcome.status, outcome.message,
        outcome.run_id, outcome.environment, str(report),
    )  # fmt: skip
    notify(webhooks_of(loaded), event, say)
    return summary


def _finish(loaded: Inventory, outcome: DeployOutcome, json: bool) -> None:

    if outcome.plan is not None and outcome.status == "planned":
        if json:
            print(dumps(outcome.plan.to_dict(), indent=2, sort_keys=True))
        else:
            print(describe_plan(outcome.plan))
            print(outcome.message)
        return
    summary = conclude(loaded, outcome, _say(json))
    if json:
        print(dumps(summary, indent=2, sort_keys=True))
    else:
        print(outcome.message)
    if outcome.exit_code:
        raise Exit(code=outcome.exit_code)


def interruptible(body: Callable[[InterruptHandler], DeployOutcome]) -> DeployOutcome:
    """Run a deploy with SIGINT and SIGTERM handled; a signal before any host changed exits.

    Once the plan runs, a signal stops it and the hosts it touched go back (the outcome
    says so); before that, nothing changed and the signal's exit code is all there is.
    """
    try:
        with handling_interrupts(STOPPING, CLEANING) as signals:
            return body(signals)
    except Interrupted as signal:
        print(f"error: {signal} before any host changed", file=sys.stderr, flush=True)
        raise Exit(code=signal.exit_code) from None


def _inputs(
    c: Context, inventory: str | None, name: str, missing: str, lock_wait: str
) -> tuple[Inventory, Environment, float]:
    """The inventory, the environment ``name`` and the lock wait; UsageError for bad input."""
    if not name:
        raise UsageError(f"{missing} (an environment of the inventory)")
    wait = number_flag(lock_wait, "--lock-wait", maximum=MAX_LOCK_WAIT)
    loaded = load(c, inventory)
    return loaded, loaded.environment(name), wait


def _say(json: bool) -> Callable[[str], None]:
    return progress_printer(sys.stderr if json else sys.stdout)


def _audit(approved_by: str | None = None) -> Audit:

    return Audit(by=who_asked(), ci_job=ci_job(), approved_by=approved_by)


@task(
    help={
        "env": "the environment to deploy to",
        "version": "deploy this version (default: what its version/range takes)",
        **_COMMON,
    }
)
@reports_errors
def deploy(
    c: Context,
    env: str = "",
    version: str | None = None,
    dry_run: bool = False,
    json: bool = False,
    lock_wait: str = LOCK_WAIT_DEFAULT,
    inventory: str | None = None,
) -> None:
    """Deploy to ENV the version it pins or its range takes from the signed index."""
    loaded, _, wait = _inputs(c, inventory, env, "deploy needs --env ENV", lock_wait)
    request = DeployRequest(env, version, "deploy", _audit(), wait, dry_run)
    seams = deploy_seams(loaded)
    outcome = interruptible(
        lambda signals: run_deploy(loaded, request, seams, say=_say(json), signals=signals)
    )
    _finish(loaded, outcome, json)


@task(
    help={
        "to": "the environment to promote to (it takes what its 'from' runs)",
        "version": "promote this older version, proven in 'from'",
        "service": "carry only this service's version (the others stay as they run)",
        "approved_by": "who approved the promotion (recorded in the audit)",
        "write": "rewrite the environment's pinned versions in the inventory file",
        **PUSH_HELP,
        **_COMMON,
    }
)
@reports_errors
def promote(
    c: Context,
    to: str = "",
    version: str | None = None,
    service: str | None = None,
    approved_by: str | None = None,
    write: bool = False,
    push: bool = False,
    remote: str | None = None,
    merge: str | None = None,
    dry_run: bool = False,
    json: bool = False,
    lock_wait: str = LOCK_WAIT_DEFAULT,
    inventory: str | None = None,
) -> None:
    """Promote to TO what its upstream environment runs healthy on every host.

    With --write --push it proposes the promotion as a pushed branch instead: the pins
    change in git, and whatever deploys from the branch once merged takes them.
    """
    if approved_by is not None and not re.fullmatch(r"[\w .@+-]{1,100}", approved_by):
        raise UsageError(
            "--approved-by takes a name or login of up to 100 letters, digits, . @ + -"
        )
    asked = PinRequest(write, push, remote, merge).checked()
    loaded, target, wait = _inputs(c, inventory, to, "promote needs --to ENV", lock_wait)
    payload = payload_of(loaded, target)
    path = inventory_path(c, inventory)
    if write:
        pins_for(target, payload, _any_set(payload))  # a range is refused before anything
    repository = repository_for(asked, path)
    seams, audit = deploy_seams(loaded), _audit(approved_by)
    if repository is not None:
        picked = _pick(loaded, target, seams, version, service)
        for line in write_pins(path, to, pins_for(target, payload, picked), asked, repository):
            print(line)
        print(f"nothing was deployed: {to} takes {picked} from the branch once it is merged")
        return
    outcome = interruptible(
        lambda signals: actions.promote(
            loaded, to, seams, version=version, audit=audit, lock_wait=wait,
            dry_run=dry_run, say=_say(json), signals=signals, service=service,
        )
    )  # fmt: skip
    if write and outcome.status in ("deployed", "unchanged"):
        pins = pins_for(target, payload, outcome.version)
        if pins:
            for line in write_pins(path, to, pins, asked, None):
                print(line, file=sys.stderr)
    _finish(loaded, outcome, json)


def _any_set(payload: Payload) -> str:
    """A set of the payload's services at their pins (to check pins before anything runs)."""
    return set_text({s.name: parse_range(s.version).pin or "0.0.0" for s in payload.services})


def _pick(
    loaded: Inventory,
    environment: Environment,
    seams: DeploySeams,
    version: str | None,
    service: str | None,
) -> str:
    """What ``promote`` would take now, read without deploying it."""
    surveys = Surveys(loaded, seams)
    try:
        return promotion_pick(loaded, environment, seams, surveys, version, service)
    finally:
        surveys.close()


@task(
    help={
        "env": "the environment to roll back",
        "to": "go back to this version (default: the one recorded before the current one)",
        **_COMMON,
    }
)
@reports_errors
def rollback(
    c: Context,
    env: str = "",
    to: str | None = None,
    dry_run: bool = False,
    json: bool = False,
    lock_wait: str = LOCK_WAIT_DEFAULT,
    inventory: str | None = None,
) -> None:
    """Put ENV back on the version it ran before (or --to V), health-checked and recorded."""
    loaded, _, wait = _inputs(c, inventory, env, "env.rollback needs --env ENV", lock_wait)
    seams, audit = deploy_seams(loaded), _audit()
    outcome = interruptible(
        lambda signals: actions.rollback(
            loaded, env, seams, to=to, audit=audit, lock_wait=wait, dry_run=dry_run,
            say=_say(json), signals=signals,
        )
    )  # fmt: skip
    _finish(loaded, outcome, json)


def _views(loaded: Inventory, environments: list[Environment]) -> list[dict[str, Any]]:
    """What env.status shows of each environment, with its next promotion."""
    seams = deploy_seams(loaded)
    try:
        seams.ledger.failures()
    except OrchestratorError as error:
        # What runs where is still worth seeing; it says whose word its failures are.
        print(
            f"the deploy ledger was not read ({error}): what failed is the hosts' records alone",
            file=sys.stderr,
        )
        seams = dataclasses.replace(seams, ledger=FailureLedger(None))
    surveys = Surveys(loaded, seams)
    try:
        # Every host of every environment shown, and of those they are promoted from, at once.
        needed = {e.name: e for e in environments}
        needed |= {u.name: u for e in environments for u in upstream_chain(loaded, e)}
        surveys.read_all(list(needed.values()))
        return [environment_status(loaded, e, seams, surveys) for e in environments]
    finally:
        surveys.close()


@task(help={"env": "only this environment", "json": "print JSON", "inventory": INVENTORY_HELP})
@reports_errors
def status(
    c: Context, env: str | None = None, json: bool = False, inventory: str | None = None
) -> None:
    """Per environment and host: desired and installed version, units, records, lock, drift."""
    loaded = load(c, inventory)
    chosen = [loaded.environment(env)] if env else promotion_order(loaded.environments)
    views = _views(loaded, chosen)
    print(dumps(views, indent=2, sort_keys=True) if json else describe_status(views))


def _page_config(loaded: Inventory, name: str) -> PublishConfig:
    """The publish target ``name``, which must say where the page goes; UsageError if not."""
    (config,) = select(loaded.publish, name)
    page_path(config, f"publish target {config.name}")
    return config


def _page_target(loaded: Inventory, name: str) -> PublishTarget:
    """The publish target ``name`` that serves the page, resolved (the sandbox's wired in)."""
    _page_config(loaded, name)
    (config,) = select(with_publish_access(loaded).publish, name)
    return resolve(config)


def _releases(
    loaded: Inventory, environments: list[Environment], seams: DeploySeams
) -> dict[str, Available]:
    """The project's published releases, as its environments read them: packages and images.

    A third party's images are not the project's releases: the page lists none of theirs.
    """
    offered: dict[str, Available] = {}
    for environment in environments:
        payload = payload_of(loaded, environment)
        for service in (s for s in payload.services if s.ours):
            try:
                available = seams.index.available(environment, service.name)
            except OrchestratorError as error:
                if environment.compose is None:
                    raise
                # One registry out of reach leaves the page without its tags, not without it.
                print(f"{environment.name}: the page lists no releases of the registry: {error}")
                continue
            for version, entry in published(available, payload, loaded.project.epoch).items():
                # A package's entry names its file, whose time says when it was published.
                if version not in offered or (entry.filename and not offered[version].filename):
                    offered[version] = entry
    return offered


@task(
    help={
        "out": "where to write the page (default: reports/environments.html in the workspace)",
        "publish": "also serve it from this publish target, at its environments_page path",
        "unpublish": "stop serving it from this publish target (from every snapshot), and exit",
        "inventory": INVENTORY_HELP,
    }
)
@reports_errors
def page(
    c: Context,
    out: str | None = None,
    publish: str | None = None,
    unpublish: str | None = None,
    inventory: str | None = None,
) -> None:
    """Render the environments page: what runs where, the last deploys, the releases.

    Nothing is published unless --publish names a target: the page shows host names.
    """
    loaded = load(c, inventory)
    if publish is not None and unpublish is not None:
        raise UsageError("pass --publish or --unpublish, not both")
    if unpublish is not None:
        target = _page_target(loaded, unpublish)
        url = target.unpublish_page(
            run_id=new_run_id(datetime.now(UTC), os.urandom(3).hex()),
            lock_wait=PAGE_LOCK_WAIT,
            say=lambda line: print(line, flush=True),
        )
        print(f"no longer serving the environments page: {url}")
        return
    if not loaded.environments:
        raise UsageError("the inventory has no environments: add some under environments")
    if publish is not None:
        _page_config(loaded, publish)  # bad input first, before any host is read
    ordered = promotion_order(loaded.environments)
    views = _views(loaded, ordered)
    seams = deploy_seams(loaded)
    offered = _releases(loaded, ordered, seams)
    reports = loaded.workspace / "reports"
    made = datetime.now(UTC)
    times = published_times(loaded.publish[0].url, list(offered.values())) if loaded.publish else {}
    data = page_data(loaded.project.name, views, offered, times, reports, made)
    path = Path(out) if out else reports / "environments.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, render_page(data), durable=True)
    print(f"environments page: {path}")
    if publish is None:
        return
    # The reports stay on this machine: the published page names each run, links none.
    public = render_page(page_data(loaded.project.name, views, offered, times, None, made))
    url = _page_target(loaded, publish).publish_page(
        public.encode("utf-8"),
        run_id=new_run_id(made, os.urandom(3).hex()),
        lock_wait=PAGE_LOCK_WAIT,
        say=lambda line: print(line, flush=True),
    )
    print(f"published the environments page: {url}")


@task(
    help={
        "env": "the environment",
        "force": "remove the lock whoever holds it",
        "inventory": INVENTORY_HELP,
    }
)
@reports_errors
def unlock(c: Context, env: str = "", force: bool = False, inventory: str | None = None) -> None:
    """Show ENV's deploy lock; with --force, remove it (its holder must be gone)."""
    if not env:
        raise UsageError("env.unlock needs --env ENV")
    loaded = load(c, inventory)
    environment = loaded.environment(env)
    seams = deploy_seams(loaded)
    first = seams.hosts.accesses(environment)[0]
    files = host_files(loaded)
    shell = seams.hosts.connect(first)
    try:
        command = commands.force_unlock(files, env) if force else commands.read_lock(files, env)
        result = shell.run(command, timeout=CONTROL_TIMEOUT)
    finally:
        shell.close()
    holder = parse_details(result.stdout)
    who = (
        holder.describe()
        if holder is not None
        else ("unreadable details" if result.stdout.strip() else None)
    )
    if who is None:
        print(f"environment {env} is not locked")
    elif force:
        print(f"removed the lock of environment {env} (held by {who})")
    else:
        print(
            f"environment {env} is locked by {who}; remove it with invoke env.unlock --env {env} --force"
        )


@task(help={"env": "the environment", "inventory": INVENTORY_HELP})
@reports_errors
def sudoers(c: Context, env: str = "", inventory: str | None = None) -> None:
    """Print the sudoers lines ENV's hosts need for logins that become root with sudo."""
    if not env:
        raise UsageError("env.sudoers needs --env ENV")
    environment = load(c, inventory).environment(env)
    users = sorted({login.user for login in environment.logins if login.become == "sudo"})
    print(sudoers_file(env, users), end="")


namespace = Collection("env", status, unlock, rollback, page, sudoers)
