"""What changes a host: the project's source on every host first, then each host's steps.

``sources`` puts the project's key and source on every host the deploy will change and
updates apt there, all at once. A host program's commands (install, restart, ...) run in
turn; the first is the one that changes the host: before it, what the host runs is kept
to go back to; once it finished, the host counts as changed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from orchestrator.commands import deploy as commands
from orchestrator.deploy.handlers.context import DeployContext, Handlers
from orchestrator.deploy.operations import PrepareSources
from orchestrator.deploy.plan import APT_UPDATE_TIMEOUT, CONTROL_TIMEOUT, HostProgram
from orchestrator.engine.executor import Directive, SkipProgram
from orchestrator.engine.operations import RemoteCommand
from orchestrator.errors import DeployError


def needs_deploy(context: DeployContext, host: str) -> bool:
    """Whether ``host`` must be deployed: not at the version, or no record says it is."""
    # A host at the version with no record of it (a deploy killed before its record)
    # is deployed again: restarted, checked and recorded.
    plan = context.plan
    state = context.survey.states[host]
    return not state.settled(
        context.environment_name, plan.components, plan.units, plan.installed_version,
        plan.image_ids,
    )  # fmt: skip


def prepare_sources(
    operation: PrepareSources, context: DeployContext, target: HostProgram | None
) -> None:
    """Put the key and the source on every host not at the version, and update apt there."""
    plan = context.plan
    sources = commands.sources_file(plan.repository, plan.channels, context.files.keyring)
    stdin = f"{context.project_key.strip()}\n{commands.MARK}\n{sources}".encode()

    def prepare(host: str) -> None:
        shell = context.shell(host)
        for stage, command, stage_input, timeout in (
            ("source", operation.configure, stdin, CONTROL_TIMEOUT),
            ("update", operation.update, b"", APT_UPDATE_TIMEOUT),
        ):
            result = shell.run(command, timeout=timeout, stdin=stage_input)
            if result.status != 0:
                raise DeployError(
                    f"{host}: {stage} failed (status {result.status}): {result.last_lines()}"
                )

    hosts = [host for host in operation.hosts if needs_deploy(context, host)]
    with ThreadPoolExecutor(max_workers=max(1, min(32, len(hosts)))) as pool:
        futures = [pool.submit(prepare, host) for host in hosts]
    problems = [f.exception() for f in futures if f.exception() is not None]
    if problems:
        raise problems[0]  # type: ignore[misc]


def run_command(
    operation: RemoteCommand, context: DeployContext, target: HostProgram | None
) -> Directive:
    """Run one step of a host's program; its first skips a host at the version already."""
    host = operation.host
    # A host program's first command is the one that changes the host.
    changes = target is not None and operation is target.operations[0]
    if changes:
        if not needs_deploy(context, host):
            return SkipProgram(f"runs {context.plan.version} already")
        _keep_what_runs(context, host)
    result = context.shell(host).run(operation.command, timeout=operation.timeout)
    if result.status != 0:
        raise context.failed(
            host, f"{operation.stage} failed (status {result.status}): {result.last_lines()}"
        )
    if changes:
        with context.guard:
            context.changed.add(host)
    return None


def _keep_what_runs(context: DeployContext, host: str) -> None:
    """Mark ``host`` touched, with what it goes back to if the deploy fails."""
    components = context.plan.components
    state = context.survey.states[host]
    back = state.restore_point(context.environment_name, components, context.installed_of)
    with context.guard:
        if back is not None:
            context.unaccounted[host] = state.version(components) or "nothing"
        context.touched[host] = (
            back
            if back is not None
            else {p: v for p, v in state.components.items() if p in components}
        )


HANDLERS: Handlers = {PrepareSources: prepare_sources, RemoteCommand: run_command}
