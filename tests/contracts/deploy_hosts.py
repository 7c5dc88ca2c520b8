"""The contract of deploy hosts (:class:`orchestrator.deploy.seams.DeployHosts`)."""

from __future__ import annotations

from orchestrator.config.environments import Environment
from orchestrator.deploy.seams import DeployHosts


def check_listed_hosts(hosts: DeployHosts, environment: Environment) -> None:
    """Every kind of deploy hosts reaches the hosts an environment lists as it lists them.

    In the inventory's order, each with its address, port, login, ``become``, identity file
    and pinned key (``environment`` lists no ``host_key: sandbox`` server, whose key and
    login are the sandbox's).
    """
    accesses = hosts.accesses(environment)
    assert [access.name for access in accesses] == [h.name for h in environment.listed_hosts]
    for access, host in zip(accesses, environment.listed_hosts, strict=True):
        assert (access.address, access.port, access.user, access.become) == (
            host.address, host.port, host.user, host.become,
        )  # fmt: skip
        assert access.host_key == host.host_key
        assert access.identity_file == (str(host.identity_file) if host.identity_file else None)
    # Asked again, the same hosts: a deploy and its upstream's reads ask more than once.
    assert hosts.accesses(environment) == accesses
