"""The builds: the source they build, and each target's program on its machine.

- ``export`` writes the source at the release's commit once, for every target;
- a target's program provisions its machine (the build hosts are made, with room for
  every target that builds, at the first), runs its commands (the build's output to the
  target's log, bounded), uploads the source, fetches the artifacts through the strict
  reader (journaled at once: they are safe whatever happens to the machine) and lets
  the machine go; the tests' program, alone before them, does the same but for the
  artifacts.
"""

from __future__ import annotations

import time

from orchestrator.cloud.buildhosts import Machine
from orchestrator.engine.executor import stopped
from orchestrator.engine.operations import RemoteCommand
from orchestrator.errors import BuildError, Cancelled
from orchestrator.release.artifacts import verify_artifacts
from orchestrator.release.buildlog import LogStream
from orchestrator.release.handlers.context import ReleaseContext, TargetRun
from orchestrator.release.handlers.family import Family
from orchestrator.release.handlers.pyindex import clashing_distributions
from orchestrator.release.operations import (
    ExportSource,
    FetchArtifacts,
    Provision,
    ReleaseMachine,
    Upload,
)
from orchestrator.release.plan import MachineProgram
from orchestrator.remote import sshexec

FAMILY = Family("build")


@FAMILY.run_wide(ExportSource)
def export_source(operation: ExportSource, context: ReleaseContext) -> None:
    """``git archive`` of the commit, where every target's upload takes it from."""
    context.seams.export_source(
        context.inventory.project.source,
        operation.commit,
        context.paths.workspace / operation.output,
    )


@FAMILY.in_program(Provision)
def provision(operation: Provision, context: ReleaseContext, target: MachineProgram) -> None:
    """Get the target's machine ready for commands; what it costs goes to the summary."""
    run = context.runs[target.name]
    hosts = context.machines.hosts(
        lambda: context.seams.build_hosts(context.plan, context.journal),
        lambda: _to_build(context),
    )
    opened = hosts.open(operation.machine, operation.timeout)
    context.machines.opened(target.name, opened)
    run.requested_at, run.price_hourly = opened.requested_at, opened.price_hourly


def _to_build(context: ReleaseContext) -> list[Machine]:
    """The machines alive at once: the targets' that build, or else the tests' alone.

    A target whose artifacts are reused builds nothing; the tests' machine is let go
    before any build starts.
    """
    plan = context.plan
    builds = [t.machine for t in plan.targets if not context.runs[t.name].artifacts]
    return builds or ([plan.gate.machine] if plan.gate is not None else [])


@FAMILY.in_program(RemoteCommand)
def remote_command(
    operation: RemoteCommand, context: ReleaseContext, target: MachineProgram
) -> None:
    """Run a command on the program's machine: a build's (the tests') output to its log, bounded."""
    run = context.runs[target.name]
    if operation.logged:
        _logged(operation, context, target, run)
    else:
        _quiet(operation, context, target)
    if context.machines.stopping:  # the command ended because the session was hung up
        raise Cancelled(stopped(target.name))


def _logged(
    operation: RemoteCommand, context: ReleaseContext, target: MachineProgram, run: TargetRun
) -> None:
    """A build or the tests: output to the program's log; its tail for the summary on failure."""
    session = context.machines.session(target.name)
    run.log_path = context.paths.log_dir / f"{target.name}.log"
    log = LogStream(run.log_path, target.log_bytes)
    try:
        status = session.run(operation.command, timeout=operation.timeout, output=log, pty=True)
    except sshexec.CommandTimedOut:
        run.log_tail = log.tail()
        raise _failure(operation.stage, target, None) from None
    finally:
        log.close()
    if status != 0 and not context.machines.stopping:
        run.log_tail = log.tail()
        raise _failure(operation.stage, target, status)


def _failure(stage: str, target: MachineProgram, status: int | None) -> BuildError:
    """Why a logged command failed: past its timeout (no ``status``, or timeout's 124) or not."""
    if stage == "test":
        if status in (None, 124):
            return BuildError(
                f"{target.name}: the tests exceeded their timeout of {target.timeout:.0f}s"
            )
        return BuildError(f"{target.name}: the tests failed with exit code {status}")
    if status in (None, 124):
        return BuildError(f"{target.name}: build exceeded its timeout of {target.timeout:.0f}s")
    return BuildError(f"{target.name}: build failed with exit code {status}")


def _quiet(operation: RemoteCommand, context: ReleaseContext, target: MachineProgram) -> None:
    """A command that moves files: its last line of output says why it failed."""
    session = context.machines.session(target.name)
    output = sshexec.Tail(16 * 1024)
    status = session.run(operation.command, timeout=operation.timeout, output=output)
    if status != 0 and not context.machines.stopping:
        lines = output.text().strip().splitlines()
        raise BuildError(
            f"{target.name}: {operation.stage} failed (exit {status})"
            + (f": {lines[-1][:300]}" if lines else "")
        )


@FAMILY.in_program(Upload)
def upload(operation: Upload, context: ReleaseContext, target: MachineProgram) -> None:
    """Copy a file of the orchestrator (the source archive) to the target's machine."""
    context.machines.session(target.name).put(
        context.paths.workspace / operation.source, operation.destination
    )


@FAMILY.in_program(FetchArtifacts)
def fetch_artifacts(
    operation: FetchArtifacts, context: ReleaseContext, program: MachineProgram
) -> None:
    """Stream the bundle through the strict reader, check every artifact, journal them."""
    target = context.plan.target(program.name)  # only a target's program fetches
    run = context.runs[target.name]
    destination = context.paths.workspace / operation.destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    session = context.machines.session(target.name)
    with session.reading(operation.command, timeout=operation.timeout) as bundle:
        run.artifacts = tuple(
            verify_artifacts(
                bundle,
                destination,
                target=target.name,
                arch=target.arch,
                package_format=target.format,
                accepted=target.accepted,
                limits=target.limits,
                python_globs=target.python_artifacts,
            )
        )
    refuse_clashing_distributions(context, target.name)
    # Safe on the orchestrator: journaled now, whatever happens to the droplet.
    context.journal.target_verified(target.name, run.artifacts)
    context.progress.update(target.name, "verified", f"{len(run.artifacts)} artifact(s)")


def refuse_clashing_distributions(context: ReleaseContext, target: str) -> None:
    """BuildError if ``target`` and another built one distribution name with other bytes.

    An index keeps one file of a name, so the run stops here, before anything is
    published. Each target's program sets its artifacts before it compares them with
    the others', so of two targets fetching at once the later one sees the earlier one's.
    """
    built = [
        (name, artifact)
        for name, run in context.runs.items()
        for artifact in run.artifacts
        if artifact.kind == "python"
    ]
    # The others' first, so that the message names this target second.
    built.sort(key=lambda pair: pair[0] == target)
    clash = clashing_distributions(built)
    if clash is not None:
        raise BuildError(clash)


@FAMILY.in_program(ReleaseMachine)
def release_machine(
    operation: ReleaseMachine, context: ReleaseContext, target: MachineProgram
) -> None:
    """Close the target's session and let its machine go (a droplet is destroyed)."""
    left, hosts = context.machines.let_go(target.name)
    if left is not None:
        left.session.close()
    if hosts is not None and left is not None:
        hosts.release(operation.machine, operation.timeout)
    context.runs[target.name].released_at = time.time()
