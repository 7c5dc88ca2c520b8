"""Where a deploy meets the world: the environment's hosts, what is published, the ledger.

Two protocols and a class, each with one real implementation and one fake:

- :class:`DeployHosts`, the hosts of an environment and a shell on each: pinned SSH to the
  hosts the inventory lists or to the droplets of a tag
  (:class:`orchestrator.cli.wiring.deploy.SshDeployHosts`);
- :class:`ReleaseIndex`, what the project published for the hosts to take: the signed apt
  index on the first publish target or the registry's tags, and the project's key
  (:class:`orchestrator.cli.wiring.deploy.PublishedReleaseIndex`);
- :class:`~orchestrator.deploy.ledger.FailureLedger`, the deploy ledger: already a class,
  over a :class:`~orchestrator.publish.target.PublishTarget`, the seam it is kept behind.

The real ones are wired in :mod:`orchestrator.cli.wiring.deploy`, the only place that
knows the sandbox; :mod:`orchestrator.testing.deploy` has the fakes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from orchestrator.config.environments import Environment
from orchestrator.deploy.hosts import HostShell
from orchestrator.deploy.index import Available
from orchestrator.deploy.ledger import FailureLedger
from orchestrator.images.served import ServedTag
from orchestrator.remote.fleet import HostAccess


class DeployHosts(Protocol):
    """The hosts of an environment: how each is reached, and a shell on it."""

    def accesses(self, environment: Environment) -> list[HostAccess]:
        """How to reach each host of ``environment``, its host key pinned.

        The hosts the inventory lists, in its order, or the droplets of a tag, by name.
        UsageError when a host's key cannot be pinned or the tag names no droplet.
        """

    def connect(self, access: HostAccess) -> HostShell:
        """A shell on ``access``'s host.

        UsageError for a host key that is not the pinned one (before any host changes),
        DeployError when the host cannot be reached.
        """


class ReleaseIndex(Protocol):
    """What the project published for an environment's hosts to take."""

    def available(self, environment: Environment, service: str) -> list[Available]:
        """The versions published for ``service`` of ``environment``.

        Its channels of the signed apt index on the first publish target, verified with
        the project's key; for a service of a Compose environment, its image's tags in
        its registry. UsageError when that registry needs a login nobody gave.
        """

    def image(self, environment: Environment, service: str, tag: str) -> ServedTag | None:
        """What the registry serves under ``tag`` for an image ``service`` (None: nothing)."""

    def project_key(self) -> str:
        """The project's armored public key, which hosts trust the repository with.

        UsageError when the inventory gives none.
        """


@dataclass(frozen=True)
class DeploySeams:
    """What a deploy runs against: the real seams (see ``orchestrator.cli``) or fakes."""

    hosts: DeployHosts
    index: ReleaseIndex
    # The deploy ledger beside the published repository: what failed where, whatever the
    # hosts say.
    ledger: FailureLedger
