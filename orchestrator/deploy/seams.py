"""Where a deploy meets the world: its hosts, what is published, the project key, the ledger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.config.environments import Environment
from orchestrator.deploy.hosts import HostShell
from orchestrator.deploy.index import Available
from orchestrator.deploy.ledger import FailureLedger
from orchestrator.images.served import ServedTag
from orchestrator.remote.fleet import HostAccess


@dataclass(frozen=True)
class DeploySeams:
    """Where a deploy meets the world: the hosts, what is published, the project key.

    ``available`` reads the signed apt index, or the registry's tags for a Compose
    environment; ``image`` is what the registry serves under a tag (None if nothing), for
    a Compose environment's checks and drift; ``ledger`` is the deploy ledger beside the
    published repository (what failed where, whatever the hosts say).
    """

    accesses: Callable[[Environment], list[HostAccess]]
    connect: Callable[[HostAccess], HostShell]
    available: Callable[[Environment], list[Available]]
    project_key: Callable[[], str]
    image: Callable[[Environment, str], ServedTag | None]
    ledger: FailureLedger
