"""The deploy plan: a pure function of the environment, its hosts, the version and the run.

Like the release plan (:mod:`orchestrator.release.plan`) it is the program the executor runs:
before the hosts, the lock; then one program per host, batch by batch;
a revert program per host, run for every host the deploy touched when one fails; and the
record, appended however the deploy ended. ``--dry-run`` prints it; golden files pin it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.commands import deploy as commands
from orchestrator.commands.deploy import HostFiles
from orchestrator.config.environments import HealthCheck, health_variables
from orchestrator.config.schema import Become
from orchestrator.config.templating import render_template
from orchestrator.deploy.operations import (
    CheckHealth,
    PrepareSources,
    RecordDeploy,
    Revert,
    TakeDeployLock,
)
from orchestrator.deploy.payload import Payload, Service
from orchestrator.deploy.records import Action
from orchestrator.deploy.sets import set_versions
from orchestrator.engine.operations import Operation, RemoteCommand, operation_dict

APT_UPDATE_TIMEOUT = 300.0
CONTROL_TIMEOUT = 60.0


@dataclass(frozen=True)
class DeployHost:
    """A host of the environment, as the plan names it."""

    name: str
    address: str
    port: int = 22
    user: str = "root"
    become: Become | None = None

    @property
    def login(self) -> str:
        """How the deploy acts on the host, in words: ``root``, or ``deploy, root through sudo``."""
        return self.user if self.become is None else f"{self.user}, root through {self.become}"


@dataclass(frozen=True)
class HostProgram:
    """One host's part of a deploy: the operations that put the version on it."""

    name: str
    address: str
    operations: tuple[Operation, ...]
    login: str = "root"


@dataclass(frozen=True)
class DeployPlan:
    """A whole deploy, before anything happens: its operations, in the order they run."""

    run_id: str
    environment: str
    action: Action
    version: str
    installed_version: str
    components: tuple[str, ...]
    units: tuple[str, ...]
    channels: tuple[str, ...]
    repository: str
    batch_wait: float
    before: tuple[Operation, ...] = ()
    batches: tuple[tuple[HostProgram, ...], ...] = ()
    reverts: dict[str, tuple[Operation, ...]] = field(default_factory=dict)
    after: tuple[Operation, ...] = ()
    # A host that fails stops the others of its batch: they are reverted all the same.
    fail_fast: bool = True
    # Per Compose service, the ids of the image the registry serves as its version: a
    # host whose container runs another is deployed again.
    image_ids: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Per image service, the digest its tag named when the deploy resolved it.
    digests: dict[str, str] = field(default_factory=dict)

    @property
    def hosts(self) -> tuple[HostProgram, ...]:
        """Every host's program, in batch order."""
        return tuple(program for batch in self.batches for program in batch)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (``--dry-run --json``): every operation with its kind."""
        return {
            "run_id": self.run_id,
            "environment": self.environment,
            "action": self.action,
            "version": self.version,
            "installed_version": self.installed_version,
            "components": list(self.components),
            "units": list(self.units),
            "channels": list(self.channels),
            "repository": self.repository,
            "image_ids": {name: list(ids) for name, ids in self.image_ids.items()},
            "digests": dict(self.digests),
            "batch_wait": self.batch_wait,
            "before": [operation_dict(op) for op in self.before],
            "batches": [
                [
                    {
                        "name": p.name,
                        "address": p.address,
                        "operations": [operation_dict(op) for op in p.operations],
                    }
                    for p in batch
                ]
                for batch in self.batches
            ],
            "reverts": {
                name: [operation_dict(op) for op in ops] for name, ops in self.reverts.items()
            },
            "after": [operation_dict(op) for op in self.after],
        }


def describe_health(health: HealthCheck, variables: dict[str, str], where: str) -> str:
    """The health check of one host in words, its templates rendered."""
    if health.http is not None:
        url = render_template(health.http.url, variables, f"{where}.http.url", "a health check")
        text = f"GET {url}, expect status {health.http.status}"
        if health.http.contains is not None:
            contains = render_template(
                health.http.contains, variables, f"{where}.http.contains", "a health check"
            )
            text += f" and a body containing {contains!r}"
        return text + f" within {health.timeout:g}s"
    command = render_template(health.command or "", variables, f"{where}.command", "a health check")
    return f"sh -c {command!r} on the host exits 0 within {health.timeout:g}s"


def _host_program(
    host: DeployHost,
    payload: Payload,
    installed_version: str,
    image_ids: Mapping[str, tuple[str, ...]],
    version: str,
    where: str,
) -> HostProgram:
    operations: list[Operation] = [
        RemoteCommand(host=host.name, stage=step.stage, command=step.command, timeout=step.timeout)
        for step in payload.put(installed_version, image_ids)
    ]
    versions = set_versions(version, payload.names) or {}
    for service in payload.services:
        check = health_check(host, service, versions.get(service.name, version), payload, where)
        if check is not None:
            operations.append(check)
    return HostProgram(host.name, host.address, tuple(operations), host.login)


def health_check(
    host: DeployHost, service: Service, version: str, payload: Payload, where: str
) -> CheckHealth | None:
    """``service``'s health check of ``host`` at ``version`` (None: it has none)."""
    health = service.health
    if health is None:
        return None
    variables = health_variables(host.name, host.address, version, payload.environment.name)
    at = (
        f"{where}.health"
        if len(payload.services) == 1
        else f"{where}.services.{service.name}.health"
    )
    return CheckHealth(
        host=host.name,
        check=describe_health(health, variables, at),
        attempts=health.attempts,
        interval=health.interval,
        timeout=_check_time(health),
        service=service.name,
        version=version,
    )


def _check_time(health: HealthCheck) -> float:
    """The longest a health check may take: every attempt, each its timeout and interval."""
    return health.attempts * (health.timeout + health.interval)


def _batches(hosts: Sequence[DeployHost], size: int | None) -> list[list[DeployHost]]:
    step = size or max(1, len(hosts))
    return [list(hosts[i : i + step]) for i in range(0, len(hosts), step)]


def make_deploy_plan(
    payload: Payload,
    hosts: Sequence[DeployHost],
    *,
    files: HostFiles,
    version: str,
    installed_version: str,
    repository: str,
    channels: tuple[str, ...],
    run_id: str,
    action: Action,
    lock_wait: float,
    where: str,
    ledger: str,
    image_ids: Mapping[str, tuple[str, ...]] | None = None,
    digests: Mapping[str, str] | None = None,
) -> DeployPlan:
    """The deploy of ``version`` (``installed_version`` as installed) to ``hosts``, batch by batch.

    ``channels`` are those of the environment's channels that the repository publishes:
    apt refuses a source whose suite has no Release file. A Compose environment has
    neither channels nor an apt source: its hosts pull from the registry. ``ledger`` names
    the publish target keeping the deploy ledger ("" for none).
    """
    environment = payload.environment
    before: list[Operation] = [
        TakeDeployLock(host=hosts[0].name, path=files.lock(environment.name), timeout=lock_wait)
    ]
    if payload.uses_sources:
        before.append(
            PrepareSources(
                hosts=tuple(h.name for h in hosts),
                configure=commands.configure_source(files),
                update=commands.update_source(files),
                timeout=CONTROL_TIMEOUT + APT_UPDATE_TIMEOUT,
            )
        )
    ids = dict(image_ids or {})
    batches = tuple(
        tuple(
            _host_program(host, payload, installed_version, ids, version, where) for host in batch
        )
        for batch in _batches(hosts, environment.batch)
    )
    revert_timeout = (
        environment.install_timeout
        + CONTROL_TIMEOUT
        + sum(_check_time(s.health) for s in payload.services if s.health is not None)
    )
    reverts: dict[str, tuple[Operation, ...]] = {
        host.name: (
            Revert(
                host=host.name, how=payload.describe_revert(), timeout=revert_timeout,
                cleanup=True,
            ),
        )
        for host in hosts
    }  # fmt: skip
    after = (
        RecordDeploy(path=files.records, ledger=ledger, timeout=CONTROL_TIMEOUT, cleanup=True),
    )
    return DeployPlan(
        run_id=run_id,
        environment=environment.name,
        action=action,
        version=version,
        installed_version=installed_version,
        components=payload.components,
        units=payload.units,
        channels=channels,
        repository=repository,
        batch_wait=environment.batch_wait,
        before=tuple(before),
        batches=batches,
        reverts=reverts,
        after=after,
        image_ids=ids,
        digests=dict(digests or {}),
    )
