"""What a deploy's handlers share: what the deploy works from, and what it did to each host.

The executor (:mod:`orchestrator.engine.executor`) decides the order, the batches, the
reverts and the cleanups; each family's handlers (:mod:`orchestrator.deploy.handlers`)
carry an operation out on the hosts, through the shells the survey opened, and keep here
what the records and the outcome need: which hosts the deploy touched, what each ran
before, how each ended, and the first failure in words.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.commands.deploy import HostFiles
from orchestrator.config.environments import Environment
from orchestrator.deploy.hosts import HostShell
from orchestrator.deploy.ledger import FailureLedger
from orchestrator.deploy.payload import Payload
from orchestrator.deploy.plan import DeployPlan, HostProgram
from orchestrator.deploy.records import Audit
from orchestrator.deploy.survey import Connect, Survey
from orchestrator.engine.executor import Directive
from orchestrator.engine.locks import LockDetails
from orchestrator.engine.operations import Operation
from orchestrator.errors import DeployError
from orchestrator.remote.fleet import HostAccess

Say = Callable[[str], None]


@dataclass
class DeployContext:
    """One deploy on the environment's hosts: what it works from, and what it did."""

    plan: DeployPlan
    payload: Payload
    # Checks, on the hosts as read under the lock, that the version chosen still holds:
    # DeployError if not, a reason when there is nothing left to do.
    recheck: Callable[[Survey], str | None]
    environment: Environment
    survey: Survey
    accesses: dict[str, HostAccess]
    connect: Connect
    files: HostFiles
    project_key: str
    audit: Audit
    lock: LockDetails
    say: Say
    now: Callable[[], datetime]
    # Where a failed version is also written, which the hosts cannot erase, and how long
    # to wait for its target's lock.
    ledger: FailureLedger
    ledger_wait: float
    # Each published release's installed version: where a host goes back to when no
    # record accounts for what it has installed.
    installed_of: Mapping[str, str] = field(default_factory=dict)
    # Hosts the deploy changed (or began to), and what each ran before it did.
    # Each touched host's components before the deploy: name -> version (absent: none).
    touched: dict[str, dict[str, str]] = field(default_factory=dict)
    # Hosts whose changing step finished: they ran the new version, until they went back.
    changed: set[str] = field(default_factory=set)
    # Touched hosts that ran a version no record accounted for: what it was.
    unaccounted: dict[str, str] = field(default_factory=dict)
    failure: str | None = None
    # The host of the first failure, and why the ledger could not take the failed version
    # (None: it did, or nothing failed).
    failed_host: str | None = None
    unledgered: str | None = None
    reverted: dict[str, str] = field(default_factory=dict)
    health: dict[str, str] = field(default_factory=dict)
    # Each host's health check results by service (an environment of several services).
    service_health: dict[str, dict[str, str]] = field(default_factory=dict)
    # Touched hosts whose record was written, and why the others' was not.
    recorded: set[str] = field(default_factory=set)
    unrecorded: dict[str, str] = field(default_factory=dict)
    # Set once the take command was sent: it may have succeeded even if its answer was
    # lost, and the release only removes a lock with this deploy's token.
    lock_tried: bool = False
    # Set when the deploy is stopped (a host failed, or a signal came).
    stopping: threading.Event = field(default_factory=threading.Event)
    # Held while the hosts' handlers, running at once, change what is kept here.
    guard: threading.Lock = field(default_factory=threading.Lock)

    @property
    def environment_name(self) -> str:
        """The environment deployed to."""
        return self.plan.environment

    @property
    def interrupted(self) -> bool:
        """Whether the deploy was stopped with no host failing: by a signal."""
        return self.failure is None and self.stopping.is_set()

    def shell(self, host: str, *, fresh: bool = False) -> HostShell:
        """The open shell on ``host``; ``fresh``: a new one, in place of one hung up."""
        if fresh:
            with self.guard:
                old = self.survey.shells.get(host)
            if old is not None:
                old.close()
            shell = self.connect(self.accesses[host])
            with self.guard:
                self.survey.shells[host] = shell
            return shell
        return self.survey.shells[host]

    def failed(self, host: str, message: str) -> DeployError:
        """The error of ``host`` failing; the deploy's first failure is kept for the records."""
        with self.guard:
            if self.failure is None:
                self.failure, self.failed_host = f"{host}: {message}", host
        return DeployError(f"{host}: {message}")

    def left_on(self, host: str) -> str | None:
        """What a touched host runs after the deploy: None when it is not known."""
        if host in self.reverted:
            return self.reverted[host]
        if self.failure is None and not self.interrupted:
            return self.plan.version
        # It did not go back: the version came on unless its change never finished.
        return self.plan.version if host in self.changed else None

    def not_back(self) -> list[str]:
        """The touched hosts that should have gone back and did not (a failure, a signal)."""
        if self.failure is None and not self.interrupted:
            return []
        return [host for host in self.touched if host not in self.reverted]


# What carries the operations of one class out (for a host's program, or run-wide); the
# executor's directive (None: go on).
Handler = Callable[[Any, DeployContext, HostProgram | None], Directive]
# A family's handlers, by the class of operation each carries out.
Handlers = Mapping[type[Operation], Handler]
