"""A deploy, a promotion or a rollback of one environment, from request to records.

Everything that can be refused is refused before a host changes: the environment, the
version, or the set of its services' versions (:mod:`orchestrator.deploy.choose`:
published, accepted, not failed here, not older than what runs unless this is a
rollback), each image resolved to what the registry serves (again under the lock: a tag
moved meanwhile stops the deploy there), the hosts' keys (the survey reads every host
first). Then the plan
(:mod:`orchestrator.deploy.plan`) runs in the executor with the deploy's handlers
(:mod:`orchestrator.deploy.handlers`); a host that is already at the version is left alone,
and when every host is, nothing is planned at all: one round trip per host.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from orchestrator.commands.deploy import HostFiles, host_files
from orchestrator.config.environments import Environment
from orchestrator.config.inventory import Inventory
from orchestrator.deploy.choose import (
    Offered,
    ResolvedImages,
    accounted_versions,
    choose_on,
    failed_on,
    newest_running,
    published,
    refuse_moved,
    resolve_images,
)
from orchestrator.deploy.handlers.context import DeployContext
from orchestrator.deploy.handlers.dispatch import DeployHandlers
from orchestrator.deploy.payload import Payload, payload_of
from orchestrator.deploy.plan import DeployHost, DeployPlan, make_deploy_plan
from orchestrator.deploy.records import Action
from orchestrator.deploy.request import DeployRequest
from orchestrator.deploy.seams import DeploySeams, ReleaseIndex
from orchestrator.deploy.sets import set_text, set_versions
from orchestrator.deploy.survey import (
    Survey,
    Surveys,
    lock_holder,
    survey,
    upstream_chain,
    upstream_failures,
)
from orchestrator.engine.executor import Deferral, Executor, Outcome
from orchestrator.engine.locks import new_details
from orchestrator.engine.run_ids import new_run_id
from orchestrator.errors import DeployError, LockError, UsageError
from orchestrator.remote.fleet import HostAccess

Say = Callable[[str], None]
Status = Literal["deployed", "unchanged", "failed", "planned", "interrupted", "refused"]


@dataclass
class DeployOutcome:
    """How a deploy ended, for the summary, ``--json`` and the exit code."""

    run_id: str
    environment: str
    action: Action
    version: str
    status: Status
    message: str
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    plan: DeployPlan | None = None
    # The exit code of the signal that interrupted the deploy (130 SIGINT, 143 SIGTERM).
    signal_exit: int = 130

    @property
    def exit_code(self) -> int:
        """0 when the environment runs the version (or nothing was to do), 1 if it failed.

        2 when what it would deploy was refused under the lock, before any host changed
        (an image's tag moved since it was resolved).
        """
        if self.status == "interrupted":
            return self.signal_exit
        if self.status == "refused":
            return 2
        return 1 if self.status == "failed" else 0

    def to_json(self) -> dict[str, Any]:
        """The outcome as JSON-ready data."""
        return {
            "run_id": self.run_id,
            "environment": self.environment,
            "action": self.action,
            "version": self.version,
            "status": self.status,
            "message": self.message,
            "hosts": self.hosts,
        }


def _unsettled(state: Survey) -> str | None:
    """The first package dpkg holds, or left half-installed, in words; None if none is."""
    for name, host in state.states.items():
        for package, unsettled in host.unsettled.items():
            return (
                f"{name}: package {package} is in dpkg state {unsettled.state!r} "
                f"({unsettled.describe()})"
            )
    return None


def refuse_unsettled(state: Survey) -> None:
    """UsageError for a host whose packages dpkg holds, or left half-installed."""
    unsettled = _unsettled(state)
    if unsettled is not None:
        raise UsageError(
            f"{unsettled}; settle it on the host first (apt-mark unhold, dpkg --configure "
            "-a), the deploy changed nothing"
        )


def _refuse_busy(state: Survey, files: HostFiles, environment: str, first: str) -> None:
    """LockError naming the deploy under way when one leaves a host's packages unsettled.

    A package half-installed under another deploy's lock is that deploy's work in
    progress, not something to settle by hand.
    """
    unsettled = _unsettled(state)
    if unsettled is None:
        return
    holder = lock_holder(state.shells[first], files, environment)
    if holder is not None:
        raise LockError(
            f"{environment} is being deployed: {holder.describe()} holds its lock (on "
            f"{first}), and {unsettled} under it; nothing was changed: run this again once "
            f"it ended (if its holder is gone: invoke env.unlock --env {environment} --force)"
        )


def _deploy_hosts(accesses: Sequence[HostAccess]) -> list[DeployHost]:
    return [DeployHost(a.name, a.address, a.port, a.user, a.become) for a in accesses]


def host_summary(
    state: Survey,
    context: DeployContext | None,
    components: tuple[str, ...],
    outcome: Outcome | None = None,
) -> dict[str, dict[str, Any]]:
    """Per host: what it ran before, whether the deploy touched it, and how it went.

    With ``outcome``: its health, where it went back, and each of its steps (started,
    seconds, status), for reports and timings.
    """
    summary: dict[str, dict[str, Any]] = {}
    for name, host in state.states.items():
        before = host.version(components)
        entry: dict[str, Any] = {"before": before, "touched": False}
        if context is not None:
            touched = name in context.touched
            entry["touched"] = touched
            entry["health"] = context.health.get(name)
            entry["reverted_to"] = context.reverted.get(name)
            # For a touched host: whether it went back where it had to, what it runs now
            # (None: not known), and whether its record was written.
            entry["went_back"] = name not in context.not_back() if touched else None
            entry["left_on"] = context.left_on(name) if touched else None
            entry["recorded"] = name in context.recorded if touched else None
        if outcome is not None:
            programs = [outcome.programs.get(name), outcome.reverts.get(name)]
            entry["steps"] = [
                {
                    "name": span.name,
                    "started": round(span.started, 3),
                    "seconds": round(span.ended - span.started, 3),
                    "status": span.status,
                    "detail": span.detail[:500],
                }
                for program in programs
                if program is not None
                for span in program.spans
            ]
        summary[name] = entry
    return summary


@dataclass
class _Deploy:
    """One deploy's context once the hosts were read: what it decides from, how it ends."""

    payload: Payload
    request: DeployRequest
    seams: DeploySeams
    files: HostFiles
    state: Survey
    offered: Offered
    # What failed as the hosts of this environment do not say: upstream (their records and
    # the ledger), and here as the deploy ledger says.
    also_failed: set[str]
    run_id: str
    say: Say
    now: Callable[[], datetime]

    @property
    def environment(self) -> Environment:
        """The environment deployed to."""
        return self.payload.environment

    @property
    def components(self) -> tuple[str, ...]:
        """What the environment puts on its hosts."""
        return self.payload.components

    def choose(self, state: Survey) -> str | None:
        """The version to deploy on ``state`` (see :func:`choose_on`)."""
        return choose_on(self.payload, self.request, state, self.offered, self.also_failed)

    def failed(self, state: Survey) -> set[str]:
        """The versions that failed here or upstream: never taken again."""
        return failed_on(state, self.environment.name, self.also_failed)

    def converging(self, state: Survey) -> str | None:
        """When the range takes nothing newer: the version to put every host on, if they differ.

        None when every host runs, as its record says, the newest version the environment
        runs (nothing to do); that version when some host does not. UsageError when that
        version may not be deployed again.
        """
        name = self.environment.name
        accounted = accounted_versions(state, name, self.components)
        newest = newest_running(accounted, self.payload.names)
        if newest is None:
            return None
        installed = installed_of(self.payload, self.offered, newest)
        settled = all(
            s.recorded(name, self.components) and s.version(self.components) == newest
            and (installed is None or s.settled(name, self.components, self.payload.units, installed))
            for s in state.states.values()
        )  # fmt: skip
        if settled:
            return None
        if installed is None or newest in self.failed(state):
            seen = ", ".join(
                f"{h}: {s.version(self.components) or 'none'}" for h, s in state.states.items()
            )
            raise UsageError(
                f"{name}'s hosts do not all run {newest} as recorded ({seen}), and {newest} "
                f"cannot be deployed again; put them on one version with invoke env.rollback "
                f"--env {name} --to VERSION"
            )
        return newest

    def ended(
        self,
        version: str,
        status: Status,
        message: str,
        *,
        hosts: dict[str, dict[str, Any]] | None = None,
        plan: DeployPlan | None = None,
        exit_code: int = 130,
    ) -> DeployOutcome:
        """The outcome of this deploy."""
        return DeployOutcome(
            self.run_id, self.environment.name, self.request.action, version, status, message,
            hosts if hosts is not None else host_summary(self.state, None, self.components),
            plan, exit_code,
        )  # fmt: skip

    def recheck(self, version: str, resolved: ResolvedImages) -> Callable[[Survey], str | None]:
        """The check, on the hosts as read under the lock, that ``version`` still holds.

        Each image is resolved again: a tag the registry moved since the deploy chose it
        is refused (UsageError) before any host changes.
        """
        name = self.environment.name

        def check(fresh: Survey) -> str | None:
            # Another deploy may have run while this one waited for the lock.
            refuse_unsettled(fresh)
            try:
                again = self.choose(fresh) or self.converging(fresh)
            except UsageError as error:
                raise DeployError(
                    f"{name} changed while this deploy waited for its lock ({error}); "
                    "nothing was changed"
                ) from None
            if again is None:
                return f"{name} moved past {version} while this deploy waited"
            if again != version:
                raise DeployError(
                    f"{name} changed while this deploy waited for its lock (it would now "
                    f"deploy {again}); nothing was changed: run it again"
                )
            refuse_moved(self.payload, self.seams.index, version, resolved)
            return None

        return check

    def execute(
        self, plan: DeployPlan, accesses: Sequence[HostAccess], signals: Deferral | None
    ) -> DeployOutcome:
        """Run ``plan`` in the executor and say how it ended."""
        request, version = self.request, plan.version
        context = DeployContext(
            plan=plan,
            payload=self.payload,
            recheck=self.recheck(version, ResolvedImages(plan.image_ids, plan.digests)),
            environment=self.environment,
            survey=self.state,
            accesses={a.name: a for a in accesses},
            connect=self.seams.hosts.connect,
            files=self.files,
            project_key=self.seams.index.project_key() if self.payload.uses_sources else "",
            audit=request.audit,
            lock=new_details(self.run_id, f"{request.action} {version}", self.now()),
            say=self.say,
            now=self.now,
            ledger=self.seams.ledger,
            ledger_wait=request.lock_wait,
            installed_of=installed_versions(self.payload, self.offered),
        )
        started = time.monotonic()
        executor = Executor(plan, DeployHandlers(context), signals=signals)
        if signals is not None and hasattr(signals, "watch"):
            signals.watch(executor)
        outcome = executor.run()
        elapsed = time.monotonic() - started
        hosts = host_summary(self.state, context, self.components, outcome)
        name, what = self.environment.name, f"{request.action} of {version}"
        back = ", ".join(f"{h} -> {v}" for h, v in context.reverted.items()) or "none"
        back += _not_back(context)
        finished = outcome.built and not outcome.failures
        if outcome.ended is not None:
            status: Status = "refused" if outcome.ended.status == "refused" else "unchanged"
            return self.ended(version, status, outcome.ended.message, hosts=hosts, plan=plan)
        if outcome.interrupted is not None and not finished:
            return self.ended(
                version, "interrupted",
                f"{what} to {name} was interrupted; the hosts it touched went back: {back}",
                hosts=hosts, plan=plan, exit_code=outcome.interrupted.exit_code,
            )  # fmt: skip
        if finished:
            late = " (a signal came during the cleanup)" if outcome.interrupted else ""
            message = f"{name} runs {version} on every host ({elapsed:.1f}s){late}"
            return self.ended(version, "deployed", message, hosts=hosts, plan=plan)
        if context.failure is None:
            why = "; ".join(outcome.failures) or "the deploy did not finish"
            message = (
                f"{what} to {name} failed: {why}; hosts went back: {back}"
                if context.touched
                else f"{what} to {name} failed before any host changed: {why}"
            )
            return self.ended(version, "failed", message, hosts=hosts, plan=plan)
        marked = _marked(version, name, context)
        message = f"{what} to {name} failed: {context.failure}; {marked}; hosts went back: {back}"
        return self.ended(version, "failed", message, hosts=hosts, plan=plan)


def _marked(version: str, environment: str, context: DeployContext) -> str:
    """Where the failed ``version`` is marked failed: the hosts' records, the ledger, or not.

    Marked on the hosts alone, it is not protected: root on one of them can erase it.
    """
    ledgered = context.unledgered is None
    if context.recorded and ledgered:
        return f"{version} is marked failed in {environment}"
    if context.recorded:
        return (
            f"{version} is marked failed in {environment} on its hosts only, not in the deploy "
            "ledger: root on a host could erase the mark"
        )
    if ledgered:
        return (
            f"{version} is marked failed in {environment} in the deploy ledger only (no host "
            "record was written)"
        )
    return (
        f"{version} could not be marked failed in {environment} (no record was written, "
        "nor the deploy ledger)"
    )


def _not_back(context: DeployContext) -> str:
    """The touched hosts that did not go back, each with what it runs and its record."""
    stuck = []
    for host in context.not_back():
        on = context.left_on(host)
        if on is None:
            before = context.payload.previous_release(context.touched[host]) or "nothing"
            on = f"{context.plan.version} or {before}: its change did not finish"
        record = "written" if host in context.recorded else "not written"
        stuck.append(f"{host} (on {on}; its record {record})")
    return f"; did not go back: {', '.join(stuck)}" if stuck else ""


def run_deploy(
    inventory: Inventory,
    request: DeployRequest,
    seams: DeploySeams,
    *,
    say: Say,
    signals: Deferral | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    chosen: Callable[[Survey], str | None] | None = None,
) -> DeployOutcome:
    """Deploy to ``request.environment``; ``chosen`` picks the version for a promotion or rollback.

    UsageError (exit 2) for anything refused, before any host changed.
    """
    environment = inventory.environment(request.environment)
    payload = payload_of(inventory, environment)
    _refuse_no_source(inventory, payload, seams.index)
    files = host_files(inventory)
    accesses = seams.hosts.accesses(environment)
    run_id = new_run_id(now(), os.urandom(3).hex())
    upstream_surveys = Surveys(inventory, seams)
    offered, state = _read_at_once(
        inventory, request, seams, payload, files, accesses, upstream_surveys
    )
    try:
        _refuse_busy(state, files, environment.name, accesses[0].name)
        refuse_unsettled(state)
        also_failed = _also_failed(inventory, environment, request, seams, upstream_surveys)
        if chosen is not None:
            request = dataclasses.replace(request, version=chosen(state))
        deploy = _Deploy(
            payload, request, seams, files, state, offered, also_failed, run_id, say, now
        )
        return _deploy_on(deploy, inventory, accesses, signals)
    finally:
        state.close()
        upstream_surveys.close()


def _refuse_no_source(inventory: Inventory, payload: Payload, index: ReleaseIndex) -> None:
    """UsageError, before any host is read, when a package deploy has nowhere to install from.

    That is no publish target, or no project key to trust it with.
    """
    if not payload.uses_sources:
        return
    if not inventory.publish:
        raise UsageError(
            f"environment {payload.environment.name} installs from the first publish target, "
            "and the inventory has none: add one under publish"
        )
    index.project_key()  # a missing key is bad input, before any host is read


def _read_at_once(
    inventory: Inventory,
    request: DeployRequest,
    seams: DeploySeams,
    payload: Payload,
    files: HostFiles,
    accesses: Sequence[HostAccess],
    upstream_surveys: Surveys,
) -> tuple[Offered, Survey]:
    """What is published, and the hosts as read; the ledger and those upstream read meanwhile.

    All at once. When what is published cannot be read, the hosts' shells (here and
    upstream) are closed before the error goes on.
    """
    environment = payload.environment
    with ThreadPoolExecutor(max_workers=3 + len(payload.services)) as pool:
        offering = {
            name: pool.submit(seams.index.available, environment, name) for name in payload.names
        }
        pool.submit(seams.ledger.failures)
        if request.action == "deploy":
            pool.submit(upstream_surveys.read_all, upstream_chain(inventory, environment))
        reading = pool.submit(survey, accesses, seams.hosts.connect, files, payload)
    try:
        epoch = inventory.project.epoch
        offered = {n: published(f.result(), payload, epoch) for n, f in offering.items()}
    except BaseException:
        if reading.exception() is None:
            reading.result().close()
        upstream_surveys.close()
        raise
    return offered, reading.result()


def _also_failed(
    inventory: Inventory,
    environment: Environment,
    request: DeployRequest,
    seams: DeploySeams,
    upstream_surveys: Surveys,
) -> set[str]:
    """What failed as this environment's hosts do not say: here as the ledger says, upstream.

    What failed upstream is never taken here by a range or a plain deploy; what the
    ledger says failed here is never taken again, whatever the hosts' records say.
    """
    also_failed = seams.ledger.failed(environment.name)
    if request.action == "deploy":
        upstream = upstream_failures(inventory, environment, upstream_surveys, seams.ledger)
        also_failed = also_failed.union(*upstream.values())
    return also_failed


def _deploy_on(
    deploy: _Deploy,
    inventory: Inventory,
    accesses: Sequence[HostAccess],
    signals: Deferral | None,
) -> DeployOutcome:
    """Choose the version on the hosts as read, plan it, and run the plan unless it does nothing."""
    state, name = deploy.state, deploy.environment.name
    version = deploy.choose(state) or deploy.converging(state)
    if version is None:
        return _nothing_newer(deploy)
    plan = _plan(deploy, inventory, accesses, version)
    if plan.installed_version == "":
        raise UsageError(f"{version} is not published for {name}; nothing was changed")
    at_version = [
        host for host, s in state.states.items()
        if s.settled(
            name, deploy.components, deploy.payload.units, plan.installed_version, plan.image_ids
        )
    ]  # fmt: skip
    if deploy.request.dry_run:
        message = f"planned {deploy.request.action} of {version} to {name}"
        if at_version:
            message += f"; left alone (already at {version}): {', '.join(at_version)}"
        return deploy.ended(version, "planned", message, plan=plan)
    if len(at_version) == len(accesses):
        message = f"every host of {name} runs {version} already: nothing to do"
        deploy.say(message)
        return deploy.ended(version, "unchanged", message, plan=plan)
    return deploy.execute(plan, accesses, signals)


def _nothing_newer(deploy: _Deploy) -> DeployOutcome:
    """The outcome when every host runs the newest version the range takes: unchanged."""
    name = deploy.environment.name
    running = accounted_versions(deploy.state, name, deploy.components)
    newest = newest_running(running, deploy.payload.names)
    assert newest is not None  # only said when some host runs a version
    ranges = "range takes" if len(deploy.payload.services) == 1 else "ranges take"
    message = f"{name} runs {newest}, and its {ranges} nothing newer"
    deploy.say(message)
    return deploy.ended(newest, "unchanged", message)


def _plan(
    deploy: _Deploy, inventory: Inventory, accesses: Sequence[HostAccess], version: str
) -> DeployPlan:
    """The plan of deploying ``version`` to ``accesses``' hosts, from the channels that offer it.

    UsageError when the registry does not serve a Compose environment's image of it.
    """
    payload, request, environment = deploy.payload, deploy.request, deploy.environment
    published_channels = {a.channel for o in deploy.offered.values() for a in o.values()}
    resolved = resolve_images(payload, deploy.seams.index, version)
    return make_deploy_plan(
        payload,
        _deploy_hosts(accesses),
        files=deploy.files,
        version=version,
        installed_version=installed_of(payload, deploy.offered, version) or "",
        repository=inventory.publish[0].url if payload.uses_sources else payload.source,
        channels=tuple(c for c in environment.channels if c in published_channels),
        run_id=deploy.run_id,
        action=request.action,
        lock_wait=request.lock_wait,
        where=f"environments.{environment.name}",
        ledger=inventory.publish[0].name if inventory.publish else "",
        image_ids=resolved.ids,
        digests=resolved.digests,
    )


def installed_of(payload: Payload, offered: Offered, version: str) -> str | None:
    """How ``version`` (or a set) is installed: the package version, or each image's tag.

    None when it is not published (a service's version is not offered).
    """
    versions = set_versions(version, payload.names)
    if versions is None:
        return None
    installed = {}
    for name, wanted in versions.items():
        entry = offered.get(name, {}).get(wanted)
        if entry is None:
            return None
        installed[name] = entry.installed_version
    return set_text(installed)


def installed_versions(payload: Payload, offered: Offered) -> dict[str, str]:
    """Each published release's installed version, for an environment of one service.

    Where a host goes back to when no record accounts for what it has (an environment of
    several services goes back by each image's tag, which is its release).
    """
    if len(payload.services) != 1:
        return {}
    return {v: a.installed_version for v, a in offered[payload.names[0]].items()}
