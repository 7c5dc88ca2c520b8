"""The deploy ledger as deploys and promotions use it: read once per command, written on failure.

The ledger (:mod:`orchestrator.publish.ledger`) lives on the first publish target, the one
hosts install from, where no deployed host can write. A host's records say what failed
there as far as root on that host is honest; the ledger says it whatever a host says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.errors import OrchestratorError
from orchestrator.publish.info import Say
from orchestrator.publish.ledger import DeployFailure, Failures
from orchestrator.publish.target import PublishTarget

# Why a failure could not be written, when the inventory has nowhere to keep it.
NO_TARGET = "the inventory has no publish target to keep it"


@dataclass
class FailureLedger:
    """The ledger of one target (``target`` makes it; None: there is no ledger), cached.

    A command reads it at most once: deploys, the environments they are promoted from and
    promotions all ask the same copy, which a recorded failure updates.
    """

    target: Callable[[], PublishTarget] | None
    _failures: Failures | None = field(default=None, init=False)

    def failures(self) -> Failures:
        """Every environment's failed versions; an error (exit 1 or 2) if it cannot be read."""
        if self.target is None:
            return {}
        if self._failures is None:
            try:
                self._failures = self.target().deploy_failures()
            except OrchestratorError as error:
                # Say why a deploy reads a publish target at all; the exit code stays.
                raise type(error)(f"cannot read the deploy ledger: {error}") from None
        return self._failures

    def failed(self, environment: str) -> set[str]:
        """The versions that failed in ``environment``, as the ledger says."""
        return {failure.version for failure in self.failures().get(environment, ())}

    def record(
        self, environment: str, failure: DeployFailure, *, lock_wait: float, say: Say
    ) -> str | None:
        """Add ``failure`` to the ledger; None once written, else why it was not, in words."""
        if self.target is None:
            return NO_TARGET
        try:
            self._failures = self.target().record_deploy_failure(
                environment, failure, lock_wait=lock_wait, say=say
            )
        except OrchestratorError as error:
            return str(error)
        return None
