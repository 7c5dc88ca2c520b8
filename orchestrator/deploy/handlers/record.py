"""The deploy's record on every host it touched, however it ended; a failure in the ledger.

Each touched host gets one record (:mod:`orchestrator.deploy.records`), written all at
once; one host's record failing does not keep the others'. A version that failed also
goes into the deploy ledger on the first publish target, which no host can erase.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from orchestrator.commands import deploy as commands
from orchestrator.deploy.handlers.context import DeployContext, Handlers
from orchestrator.deploy.operations import RecordDeploy
from orchestrator.deploy.plan import CONTROL_TIMEOUT, HostProgram
from orchestrator.deploy.records import Record, Result
from orchestrator.errors import DeployError
from orchestrator.publish.ledger import DeployFailure


def record(operation: RecordDeploy, context: DeployContext, target: HostProgram | None) -> None:
    """Append the record on every touched host, and a failed version to the ledger.

    DeployError naming each host whose record was not written.
    """
    result, failure = _result(context)
    stamp = context.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    def write(host: str) -> None:
        entry = _record_of(context, host, result, failure, stamp)
        try:
            shell = context.shell(host, fresh=context.stopping.is_set())
            command = commands.append_record(context.files, entry.to_line())
            # What the deploy kept to go back is dropped with its record, not before,
            # and kept where the host could not go back: it is what repairs it.
            forget = context.payload.forget()
            if forget is not None and (failure is None or host in context.reverted):
                command = f"{command} && {forget}"
            done = shell.run(command, timeout=CONTROL_TIMEOUT)
            if done.status != 0:
                raise DeployError(done.last_lines())
            with context.guard:
                context.recorded.add(host)
        except Exception as error:  # one host's record must not keep the others'
            with context.guard:
                context.unrecorded[host] = str(error).removeprefix(f"{host}: ")

    hosts = list(context.touched)
    with ThreadPoolExecutor(max_workers=max(1, min(32, len(hosts)))) as pool:
        list(pool.map(write, hosts))
    if result == "failed":
        _ledger_failure(context, stamp)
    if context.unrecorded:
        problems = "; ".join(f"{h}: {why}" for h, why in sorted(context.unrecorded.items()))
        raise DeployError(f"could not append the deploy record on {problems}")


def _result(context: DeployContext) -> tuple[Result, str | None]:
    """How the deploy ended, for its records, and why when it did not deploy."""
    if context.failure is not None:
        return "failed", context.failure
    if context.interrupted:
        return "interrupted", "the deploy was interrupted"
    if context.plan.action == "rollback":
        return "rolled-back", None
    return "deployed", None


def _record_of(
    context: DeployContext, host: str, result: Result, failure: str | None, stamp: str
) -> Record:
    """The record of this deploy on ``host``, as it ended."""
    said = []
    if host in context.unaccounted:
        said.append(f"it ran {context.unaccounted[host]} with no record of it")
    if failure is not None:
        back = context.reverted.get(host)
        said += [
            failure,
            f"this host went back to {back}" if back else "this host could not go back",
        ]
    plan, audit = context.plan, context.audit
    return Record(
        time=stamp,
        run_id=plan.run_id,
        environment=context.environment_name,
        host=host,
        action=plan.action,
        version=plan.version,
        previous=context.payload.previous_release(context.touched[host]),
        result=result,
        by=audit.by,
        ci_job=audit.ci_job,
        approved_by=audit.approved_by,
        health=context.health.get(host, "")[:500],
        detail="; ".join(said)[:500],
        digests=dict(plan.digests) or None,
    )


def _ledger_failure(context: DeployContext, stamp: str) -> None:
    """Write the failed version into the deploy ledger; say on one line if it could not."""
    plan = context.plan
    host = context.failed_host or ""
    detail = (context.failure or "").removeprefix(f"{host}: ")
    entry = DeployFailure(plan.version, stamp, plan.run_id, host, detail)
    context.unledgered = context.ledger.record(
        context.environment_name, entry, lock_wait=context.ledger_wait, say=context.say
    )
    if context.unledgered is not None:
        context.say(f"{plan.version} is not in the deploy ledger: {context.unledgered}")


HANDLERS: Handlers = {RecordDeploy: record}
