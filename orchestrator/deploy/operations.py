"""The operations a deploy plan is made of (see :mod:`orchestrator.release.operations`).

A deploy has read every host before it is planned (one round trip each, see
:mod:`orchestrator.deploy.survey`); its plan takes the environment's lock on its first
host, puts the project's source on every host it will change (``apt-get update`` of it),
then runs each host's program batch by batch: the install, the restart, the health check (shell commands are
:class:`~orchestrator.release.operations.RemoteCommand`). When a host fails, every host the deploy
touched runs its revert program; a record is appended on every touched host however the
deploy ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from orchestrator.engine.operations import HostOperation, Operation


@dataclass(frozen=True)
class TakeDeployLock(Operation):
    """Hold the environment's lock, on its first host, to the end of the deploy."""

    kind: ClassVar[str] = "lock"
    host: str = ""
    path: str = ""

    @property
    def where(self) -> str:
        """The environment's first host."""
        return self.host

    def describe(self) -> str:
        """One line."""
        return (
            f"mkdir {self.path} on {self.host} with a details file (wait up to "
            f"{self.timeout:g}s), held to the end; then read the hosts again"
        )


@dataclass(frozen=True)
class PrepareSources(Operation):
    """On every host the deploy will change, at once: the project's key and source, updated.

    This changes no running version, so it is done for all hosts before the first batch
    rather than in each batch's time.
    """

    kind: ClassVar[str] = "sources"
    hosts: tuple[str, ...] = ()
    configure: str = ""
    update: str = ""

    def describe(self) -> str:
        """One line."""
        return (
            f"on {', '.join(self.hosts)} (those not at the version, all at once): the key and "
            f"source on standard input to: {self.configure}; then: {self.update}"
        )


@dataclass(frozen=True)
class CheckHealth(HostOperation):
    """A service's health check of one host, tried until it passes or attempts run out.

    ``version`` is the service's version the check expects.
    """

    kind: ClassVar[str] = "health"
    check: str = ""
    attempts: int = 1
    interval: float = 1.0
    service: str = ""
    version: str = ""

    def describe(self) -> str:
        """One line."""
        return f"{self.check} (up to {self.attempts} attempts, {self.interval:g}s apart)"


@dataclass(frozen=True)
class Revert(HostOperation):
    """Put the host back on the version it ran before, and check it (``how``: in words)."""

    kind: ClassVar[str] = "revert"
    how: str = ""

    def describe(self) -> str:
        """One line."""
        return f"{self.how}, health check"


@dataclass(frozen=True)
class RecordDeploy(Operation):
    """Append the deploy's record to every host it touched, however it ended.

    A version that failed also goes into the deploy ledger on the publish target named
    ``ledger`` (none: the inventory has no publish target).
    """

    kind: ClassVar[str] = "record"
    path: str = ""
    ledger: str = ""

    def describe(self) -> str:
        """One line."""
        described = f"append a JSON line to {self.path} on every host the deploy touched"
        if self.ledger:
            described += f"; if it failed, its version to the deploy ledger on {self.ledger}"
        return described
