"""``invoke release``: the whole run from a validated plan to a signed, published repository.

Stages, each written to the journal as it starts and ends: check the signing key, build
every target (droplets destroyed as soon as their artifacts are verified, and all of
them in every case), index and sign the local repository tree, publish it, verify it
with real clients (``--verify``), run the after-publish hooks, write the report.
A failed target publishes nothing. An interruption (SIGINT/SIGTERM) is raised as
:class:`Interrupted` in the main thread; everything still cleans up, and the journal
says ``interrupted`` so ``--resume`` can reuse what was already verified.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.artifacts import Artifact
from orchestrator.atomic import write_json_atomically
from orchestrator.build import BuildStage, TargetResult
from orchestrator.errors import OrchestratorError
from orchestrator.hooks import hook_environment, run_hooks
from orchestrator.interrupts import Interrupted
from orchestrator.inventory import Inventory
from orchestrator.journal import (
    Journal,
    last_interrupted_run,
    read_journal,
    reusable_artifacts,
)
from orchestrator.pipeline import RunPaths, build_targets
from orchestrator.plan import Plan
from orchestrator.progress import Progress
from orchestrator.publish.info import PublishInfo, Report
from orchestrator.publish.pull import ready_tree
from orchestrator.publish.run import publish_tree, resolve_targets
from orchestrator.repo.build import add_packages
from orchestrator.signer import opened_signer
from orchestrator.summary import PublishedSummary, RunStatus, RunSummary, TargetSummary
from orchestrator.verify.run import verify_inventory
from orchestrator.verify.table import render_table

LEDGER = "releases.json"


@dataclass
class ReleaseOptions:
    """Flags of ``invoke release`` that change what a run does."""

    resume: bool = False
    force: bool = False
    verify: bool = False
    lock_wait: float = 300.0


@dataclass
class RunState:
    """What the run has done so far, for the summary."""

    results: list[TargetResult] = field(default_factory=list)
    published: list[PublishedSummary] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    reused: set[str] = field(default_factory=set)


def repository_dir(inventory: Inventory) -> Path:
    """The orchestrator's local repository tree, which every release adds to."""
    return inventory.workspace / ".orchestrator" / "repository"


def already_published(inventory: Inventory, plan: Plan) -> dict[str, object] | None:
    """The ledger entry of the plan's version when an earlier run indexed or published it.

    The ledger is keyed by package version, not tag: a nightly built on v1.2.3 is a
    release of its own.
    """
    ledger = read_journal(repository_dir(inventory) / ".state" / LEDGER) or {}
    entry = ledger.get(plan.version)
    return entry if isinstance(entry, dict) else None


def _record(inventory: Inventory, plan: Plan, status: str, packages: dict[str, str]) -> None:
    """Write ``tag``'s ledger entry: "indexed" (in the local tree) or "published"."""
    path = repository_dir(inventory) / ".state" / LEDGER
    ledger = read_journal(path) or {}
    ledger[plan.version] = {
        "tag": plan.tag,
        "version": plan.version,
        "channel": plan.channel,
        "run_id": plan.run_id,
        "status": status,
        "at": time.time(),
        "packages": packages,
    }
    write_json_atomically(path, ledger)


def run_release(
    inventory: Inventory,
    plan: Plan,
    options: ReleaseOptions,
    progress: Progress,
    *,
    on_stage: Callable[[BuildStage], None] = lambda _stage: None,
    report: Report = print,
) -> RunSummary:
    """Carry out ``plan``; return the summary (its exit code says how it went)."""
    started = time.time()
    paths = RunPaths(inventory.workspace, plan.run_id)
    state = RunState()
    previous = already_published(inventory, plan)
    if previous is not None and previous.get("status") == "indexed" and not options.force:
        # An earlier run indexed this release but could not publish it: publish that tree.
        state.messages.append(
            f"{plan.tag} was indexed by run {previous.get('run_id')} but not published: publishing it"
        )
        journal = Journal(paths.run_dir, _header(plan))
        return _publish_stages(inventory, plan, options, journal, state, started, paths, [], report)
    if previous is not None and not options.force:
        message = (
            f"{plan.tag} is already published as {previous.get('version')} in "
            f"{previous.get('channel')} (run {previous.get('run_id')}); nothing to do (--force to redo)"
        )
        return _summary(inventory, plan, "already-published", 0, started, state, [message], None)
    skip: dict[str, tuple[Artifact, ...]] = {}
    if options.resume:
        earlier = last_interrupted_run(paths.run_dir.parent, plan.tag, plan.version)
        if earlier is None:
            state.messages.append(
                f"--resume: no interrupted run of {plan.tag}; building everything"
            )
        else:
            skip = reusable_artifacts(earlier)
            state.reused = set(skip)
            state.messages.append(
                f"--resume: reusing {len(skip)} verified target(s) of run {earlier.get('run_id')}: "
                + (", ".join(sorted(skip)) or "none")
            )
    journal = Journal(paths.run_dir, _header(plan))
    for name, reused in skip.items():
        journal.target_verified(name, reused)
    try:
        journal.stage("signing-key")
        with opened_signer(inventory) as signer:
            signer.prove()  # a wrong passphrase stops the run before any droplet exists
            journal.stage("signing-key", "done", signer.fingerprint)
            if inventory.publish:
                # A release must not unpublish earlier ones: a machine that starts empty
                # gets the served tree back, and a tree that lost packages stops it here.
                journal.stage("publish-check")
                ready_tree(repository_dir(inventory), resolve_targets(inventory), report)
                journal.stage("publish-check", "done")
            journal.stage("build")
            state.results = build_targets(
                inventory,
                plan,
                progress,
                on_stage=on_stage,
                on_created=journal.droplet_created,
                on_destroyed=journal.droplet_destroyed,
                on_verified=lambda result: journal.target_verified(result.name, result.artifacts),
                skip=skip,
            )
            failed = [r for r in state.results if r.status != "succeeded"]
            if failed:
                journal.stage("build", "failed", "; ".join(r.error or r.name for r in failed))
                journal.finish("failed")
                return _summary(inventory, plan, "failed", 1, started, state, [], paths)
            journal.stage("build", "done")
            journal.stage("index")
            artifacts = [a for r in state.results for a in r.artifacts]
            packages = [a.path for a in artifacts if a.kind in ("deb", "rpm")]
            change = add_packages(
                packages, repository_dir(inventory), plan.channel, inventory.repo_options(), signer
            )
            journal.stage("index", "done", f"{len(change.added)} added")
        _record(inventory, plan, "indexed", {a.name: a.sha256 for a in artifacts})
    except Interrupted:
        journal.finish("interrupted")
        raise
    except OrchestratorError as error:
        journal.stage("release", "failed", str(error))
        journal.finish("failed")
        raise
    # Publishing journals its own outcome.
    return _publish_stages(
        inventory, plan, options, journal, state, started, paths, artifacts, report
    )


def _header(plan: Plan) -> dict[str, str]:
    return {
        "run_id": plan.run_id,
        "project": plan.project,
        "tag": plan.tag,
        "version": plan.version,
        "channel": plan.channel,
    }


def _publish_stages(
    inventory: Inventory,
    plan: Plan,
    options: ReleaseOptions,
    journal: Journal,
    state: RunState,
    started: float,
    paths: RunPaths,
    artifacts: list[Artifact],
    report: Report,
) -> RunSummary:
    """Publish the local tree, verify it (--verify), run the hooks; return the summary."""
    try:
        if inventory.publish:
            journal.stage("publish")
            published = publish_tree(
                repository_dir(inventory),
                resolve_targets(inventory),
                release=PublishInfo(plan.run_id, plan.tag, plan.version),
                lock_wait=options.lock_wait,
                report=report,
            )
            state.published = [
                PublishedSummary(p.name, p.url, p.key_url, p.snapshot) for p in published
            ]
            journal.stage("publish", "done", ", ".join(p.url for p in published))
            _record(inventory, plan, "published", read_packages(inventory, plan))
        exit_code = 0
        if options.verify and inventory.publish:
            journal.stage("verify")
            results = verify_inventory(
                inventory, version=plan.version, channel=plan.channel, report=report
            )
            report(render_table(results))
            failed = [r for r in results if not r.ok]
            journal.stage("verify", "failed" if failed else "done")
            if failed:
                exit_code = 1
                state.messages.append(f"verify: {len(failed)} check(s) failed")
            else:
                state.messages.append(f"verify: all {len(results)} check(s) passed")
        hooks = _run_hooks(inventory, plan, artifacts, paths)
        state.messages.extend(hooks)
        if any(m.startswith("hook failed") for m in hooks):
            exit_code = 1
        status: RunStatus = "published" if state.published else "built"
        journal.finish(status)
        return _summary(inventory, plan, status, exit_code, started, state, [], paths)
    except Interrupted:
        journal.finish("interrupted")
        raise
    except OrchestratorError as error:
        journal.stage("publish", "failed", str(error))
        journal.finish("failed")
        raise


def read_packages(inventory: Inventory, plan: Plan) -> dict[str, str]:
    """The packages the ledger already lists for ``plan.tag`` (kept when re-publishing)."""
    entry = already_published(inventory, plan) or {}
    packages = entry.get("packages")
    return dict(packages) if isinstance(packages, dict) else {}


def _run_hooks(
    inventory: Inventory, plan: Plan, artifacts: list[Artifact], paths: RunPaths
) -> list[str]:
    """Run ``hooks.after_publish``; a failure is reported, never un-published."""
    variables = {
        "TAG": plan.tag,
        "VERSION": plan.version,
        "CHANNEL": plan.channel,
        "RUN_ID": plan.run_id,
        "ARTIFACTS": " ".join(str(a.path) for a in artifacts),
        "EXTRA_ARTIFACTS": " ".join(str(a.path) for a in artifacts if a.kind == "extra"),
    }
    hooks = inventory.hooks
    return run_hooks(
        hooks.after_publish,
        environment=hook_environment(os.environ, hooks.env, variables),
        cwd=paths.run_dir,
        log=paths.log_dir / "hooks.log",
        timeout=hooks.timeout,
    )


def _summary(
    inventory: Inventory,
    plan: Plan,
    status: RunStatus,
    exit_code: int,
    started: float,
    state: RunState,
    extra: list[str],
    paths: RunPaths | None,
) -> RunSummary:
    targets = []
    for planned in plan.targets:
        result = next((r for r in state.results if r.name == planned.name), None)
        if result is None:
            continue
        reused = planned.name in state.reused
        targets.append(
            TargetSummary(
                name=planned.name,
                arch=planned.arch,
                format=planned.format,
                status="reused" if reused else result.status,
                seconds=round(result.seconds, 3),
                droplet_seconds=round(result.machine_seconds, 3),
                cost=round(result.machine_seconds * result.price_hourly / 3600.0, 6),
                artifacts=tuple(a.name for a in result.artifacts),
                spans=dict(result.spans),
                error=result.error,
                log=str(result.log_path) if result.log_path and result.log_path.exists() else None,
            )
        )
    return RunSummary(
        run_id=plan.run_id,
        project=plan.project,
        tag=plan.tag,
        version=plan.version,
        channel=plan.channel,
        status=status,
        exit_code=exit_code,
        started_at=started,
        finished_at=time.time(),
        targets=tuple(targets),
        published=tuple(state.published),
        messages=tuple([*state.messages, *extra]),
        report=str(paths.report) if paths else None,
    )
