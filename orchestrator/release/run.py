"""A release run: its plan through the executor, with the release's handlers, then its summary.

:func:`run_release` hands the plan to :class:`~orchestrator.engine.executor.Executor` with
:class:`~orchestrator.release.handlers.dispatch.ReleaseHandlers`, which do each operation
against the seams a run is given (:class:`~orchestrator.release.seams.Seams`: build hosts,
publish targets, the signing key, the source, the verification, the registry; the tasks
wire the real ones, :mod:`orchestrator.testing` has fakes). What each operation does lives
with its family, in :mod:`orchestrator.release.handlers`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from orchestrator.config.inventory import Inventory
from orchestrator.engine.executor import Executor, Outcome, Program
from orchestrator.engine.interrupts import InterruptHandler
from orchestrator.engine.progress import Progress
from orchestrator.publish.info import Say
from orchestrator.release.artifacts import Artifact
from orchestrator.release.handlers.context import ReleaseContext, RunPaths, TargetRun
from orchestrator.release.handlers.dispatch import ReleaseHandlers
from orchestrator.release.journal import Journal, last_interrupted_run, reusable_artifacts
from orchestrator.release.plan import Plan, TargetPlan
from orchestrator.release.seams import Seams
from orchestrator.release.summary import (
    GateSummary,
    PublishedSummary,
    RunStatus,
    RunSummary,
    TargetSummary,
    TestsStatus,
)


@dataclass(frozen=True)
class ReleaseOptions:
    """Flags of ``invoke release`` that change what a run does beyond its plan."""

    resume: bool = False
    force: bool = False


def _reused(
    plan: Plan, options: ReleaseOptions, paths: RunPaths
) -> tuple[dict[str, tuple[Artifact, ...]], str | None]:
    """With --resume, the verified artifacts of the last interrupted run, and a message."""
    if not options.resume:
        return {}, None
    earlier = last_interrupted_run(paths.run_dir.parent, plan.tag, plan.version)
    if earlier is None:
        return {}, f"--resume: no interrupted run of {plan.tag}; building everything"
    reused = reusable_artifacts(earlier)
    return reused, (
        f"--resume: reusing {len(reused)} verified target(s) of run {earlier.get('run_id')}: "
        + (", ".join(sorted(reused)) or "none")
    )


def run_release(
    inventory: Inventory,
    plan: Plan,
    seams: Seams,
    progress: Progress,
    *,
    options: ReleaseOptions | None = None,
    interrupts: InterruptHandler | None = None,
    say: Say = print,
) -> RunSummary:
    """Carry ``plan`` out; return the summary (its exit code says how it went).

    An interrupt ends the run after its cleanup: the summary says ``interrupted``, with
    exit code 130 or 143 and what the cleanup did.
    """
    chosen = options or ReleaseOptions()
    started = time.time()
    paths = RunPaths(inventory.workspace, plan.run_id)
    reused, resumed = _reused(plan, chosen, paths)
    journal = Journal(paths.run_dir, _header(plan))
    for name, artifacts in reused.items():
        journal.target_verified(name, artifacts)
    context = ReleaseContext.start(
        inventory, plan, seams, journal, progress, say, reused, force=chosen.force
    )
    handlers = ReleaseHandlers(context)
    if resumed is not None:
        say(resumed)
        context.messages.append(resumed)
    executor = Executor(plan, handlers, signals=interrupts)
    if interrupts is not None:
        interrupts.watch(executor)
    try:
        outcome = executor.run(reused)
    except BaseException:
        journal.finish("failed")
        raise
    summary = _summary(context, outcome, started, set(reused))
    journal.finish(summary.status)
    return summary


def _header(plan: Plan) -> dict[str, str]:
    return {
        "run_id": plan.run_id,
        "project": plan.project,
        "tag": plan.tag,
        "ref": plan.ref,
        "commit": plan.commit,
        "version": plan.version,
        "channel": plan.channel,
    }


def _status(outcome: Outcome, context: ReleaseContext) -> tuple[RunStatus, int]:
    if outcome.interrupted is not None:
        return "interrupted", outcome.interrupted.exit_code
    if outcome.ended is not None:
        return "already-published", 0
    if outcome.failures or not (outcome.built or outcome.skipped):
        return "failed", 1
    # Published: to a repository, or (an inventory of images only) to the registry.
    status: RunStatus = "published" if context.published or context.pushed_images else "built"
    return status, 1 if outcome.warnings or context.released.alive else 0


def _messages(context: ReleaseContext, outcome: Outcome) -> list[str]:
    """What the run has to tell: why it ended early, failures, warnings, the way out."""
    plan, released = context.plan, context.released
    messages = list(context.messages)
    if _tests_status(plan, outcome) == "failed":
        messages.append(
            "the tests failed: no build machine was made, nothing was built or published "
            "(--skip-tests releases without the tests)"
        )
    for directive in (outcome.ended, outcome.skipped):
        if directive is not None:
            messages.insert(0, directive.message)
    messages += [m for m in outcome.failures if m not in messages]
    messages += [m for m in outcome.warnings if m not in messages]
    if outcome.interrupted is not None:
        messages.append(
            f"{outcome.interrupted}: cleaned up ({outcome.cleaned}); "
            f"'invoke release --tag {plan.tag} --resume' continues with what was verified"
        )
    if released.alive:
        messages.append(
            f"droplets still alive: {', '.join(released.alive)} "
            f"({'; '.join(released.errors)}): finish with invoke teardown "
            f"--run-id {plan.run_id}"
        )
    return messages


def _target_summary(
    planned: TargetPlan, program: Program, run: TargetRun, reused: bool, now: float
) -> TargetSummary:
    """One target's line of the summary: its status, timings, cost, artifacts and log."""
    spans = {span.name: (span.started, span.ended) for span in program.spans}
    seconds = (
        max(end for _, end in spans.values()) - min(s for s, _ in spans.values()) if spans else 0.0
    )
    return TargetSummary(
        name=planned.name,
        arch=planned.arch,
        format=planned.format,
        # A build is never "unchanged": that is a deploy's host left alone.
        status="reused" if reused or program.status == "unchanged" else program.status,
        seconds=round(seconds, 3),
        droplet_seconds=round(run.machine_seconds(now), 3),
        cost=round(run.machine_seconds(now) * run.price_hourly / 3600.0, 6),
        artifacts=tuple(a.name for a in run.artifacts),
        spans=spans,
        error=program.error,
        log=str(run.log_path) if run.log_path and run.log_path.exists() else None,
        log_tail=run.log_tail,
    )


def _tests_status(plan: Plan, outcome: Outcome) -> TestsStatus:
    """How the tests went, from the plan (are there any?) and the gate's program."""
    if plan.gate is None:
        return "skipped" if plan.tests_skipped else "none"
    program = outcome.programs.get(plan.gate.name)
    if program is None or not program.spans:
        return "not-run"
    statuses: dict[str, TestsStatus] = {"succeeded": "passed", "failed": "failed"}
    return statuses.get(program.status, "cancelled")


def _gate_summary(context: ReleaseContext, outcome: Outcome, now: float) -> GateSummary | None:
    """The tests' line of the summary, once they ran: timings, cost, error and log."""
    gate = context.plan.gate
    program = outcome.programs.get(gate.name) if gate is not None else None
    if gate is None or program is None or not program.spans:
        return None
    run = context.runs[gate.name]
    spans = {span.name: (span.started, span.ended) for span in program.spans}
    return GateSummary(
        commands=gate.commands,
        seconds=round(max(e for _, e in spans.values()) - min(s for s, _ in spans.values()), 3),
        droplet_seconds=round(run.machine_seconds(now), 3),
        cost=round(run.machine_seconds(now) * run.price_hourly / 3600.0, 6),
        spans=spans,
        error=program.error,
        log=str(run.log_path) if run.log_path and run.log_path.exists() else None,
        log_tail=run.log_tail,
    )


def _summary(
    context: ReleaseContext, outcome: Outcome, started: float, reused: set[str]
) -> RunSummary:
    plan = context.plan
    status, exit_code = _status(outcome, context)
    finished = time.time()
    tests = _tests_status(plan, outcome)
    # The targets never start unless the tests passed (or there are none to pass).
    building = tests in ("passed", "skipped", "none")
    targets = tuple(
        _target_summary(
            planned,
            outcome.programs[planned.name],
            context.runs[planned.name],
            planned.name in reused,
            finished,
        )
        for planned in plan.targets
        if building and planned.name in outcome.programs
    )
    return RunSummary(
        run_id=plan.run_id,
        project=plan.project,
        tag=plan.tag,
        ref=plan.ref,
        commit=plan.commit,
        version=plan.version,
        channel=plan.channel,
        status=status,
        exit_code=exit_code,
        started_at=started,
        finished_at=finished,
        targets=targets,
        tests=tests,
        gate=_gate_summary(context, outcome, finished),
        published=tuple(
            PublishedSummary(p.name, p.url, p.key_url, p.snapshot) for p in context.published
        ),
        images=context.pushed_images,
        python=tuple(context.python),
        messages=tuple(_messages(context, outcome)),
        report=str(context.paths.report),
        spans={span.name: (span.started, span.ended) for span in outcome.spans},
    )
