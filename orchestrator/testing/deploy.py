"""The seams of a deploy, all fakes: hosts that are :class:`FakeServer` s, a release index in memory.

:class:`FakeDeployHosts` is a :class:`~orchestrator.deploy.seams.DeployHosts` over fake
servers, :class:`FakeReleaseIndex` a :class:`~orchestrator.deploy.seams.ReleaseIndex` that
offers what it was given; the deploy ledger is a real
:class:`~orchestrator.deploy.ledger.FailureLedger` on a
:class:`~orchestrator.testing.publish.MemoryTarget`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orchestrator.config.environments import Environment
from orchestrator.deploy.index import Available
from orchestrator.deploy.ledger import FailureLedger
from orchestrator.deploy.seams import DeploySeams
from orchestrator.images.served import ServedTag
from orchestrator.remote.fleet import HostAccess
from orchestrator.testing.publish import MemoryTarget
from orchestrator.testing.servers import FakeServer, FakeShell


class FakeDeployHosts:
    """The hosts an environment lists, each the :class:`FakeServer` of its name."""

    def __init__(self, servers: Mapping[str, FakeServer]) -> None:
        self.servers = servers

    def accesses(self, environment: Environment) -> list[HostAccess]:
        """Each listed host as the inventory lists it (a fake server checks no key)."""
        return [
            HostAccess(
                name=h.name, address=h.address, port=h.port, user=h.user, become=h.become,
                host_key=h.host_key,
                identity_file=str(h.identity_file) if h.identity_file else None,
            )
            for h in environment.listed_hosts
        ]  # fmt: skip

    def connect(self, access: HostAccess) -> FakeShell:
        """A shell on the fake server of ``access``'s name."""
        return FakeShell(self.servers[access.name])


class FakeReleaseIndex:
    """Offers what it was given, and ``images`` by tag; signed with ``key``.

    ``available`` is offered to every service, or given per service name; ``images`` are
    keyed by ``SERVICE:TAG``, or by the tag alone for every service.
    """

    def __init__(
        self,
        available: Sequence[Available] | Mapping[str, Sequence[Available]],
        key: str = "PUBLIC KEY",
        images: Mapping[str, ServedTag] | None = None,
    ) -> None:
        self.offered = available
        self.key = key
        self.images = dict(images or {})

    def available(self, environment: Environment, service: str) -> list[Available]:
        """What it was given for ``service`` (or for every service), whatever the environment."""
        if isinstance(self.offered, Mapping):
            return list(self.offered.get(service, ()))
        return list(self.offered)

    def image(self, environment: Environment, service: str, tag: str) -> ServedTag | None:
        """The image given for ``tag`` (None: the registry serves nothing under it)."""
        return self.images.get(f"{service}:{tag}", self.images.get(tag))

    def project_key(self) -> str:
        """The key it was given."""
        return self.key


def fake_deploy_seams(
    servers: Mapping[str, FakeServer],
    available: Sequence[Available] | Mapping[str, Sequence[Available]],
    key: str = "PUBLIC KEY",
    ledger: MemoryTarget | None = None,
) -> DeploySeams:
    """Deploy seams over ``servers`` (by host name) offering ``available`` versions.

    The deploy ledger is kept on ``ledger`` (a new, empty target if none is given).
    """
    target = ledger if ledger is not None else MemoryTarget()
    return DeploySeams(
        FakeDeployHosts(servers), FakeReleaseIndex(available, key), FailureLedger(lambda: target)
    )
