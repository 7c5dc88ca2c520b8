"""Existing build machines (provider ``static``): connected to, never created or destroyed.

Each host is reached with its pinned host key from the inventory; a target's program
cleans its work directory there itself (a ``cleanup`` operation of the plan), since the
host outlives the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence

from orchestrator.cloud.buildhosts import Machine, OpenedMachine, Released
from orchestrator.config.inventory import Inventory
from orchestrator.remote.fleet import HostAccess, SshSession, wait_for_ssh


def static_access(inventory: Inventory) -> dict[str, HostAccess]:
    """SSH access to the inventory's static hosts, with their pinned host keys."""
    return {
        host.name: HostAccess(
            name=host.name,
            address=host.address,
            port=host.port,
            user=host.user,
            host_key=host.host_key,
            identity_file=str(host.identity_file) if host.identity_file else None,
        )
        for host in inventory.cloud.hosts
    }


class StaticHosts:
    """The inventory's static hosts (a :class:`~orchestrator.cloud.buildhosts.BuildHosts`)."""

    def __init__(self, hosts: Mapping[str, HostAccess]) -> None:
        self._hosts = dict(hosts)
        self._stopping = threading.Event()

    def check_capacity(self, machines: Sequence[Machine]) -> None:
        """Nothing to check: the hosts exist."""

    def stop(self) -> None:
        """Stop waiting for a host to answer."""
        self._stopping.set()

    def open(self, machine: Machine, timeout: float) -> OpenedMachine:
        """Connect to the host with its pinned key, retrying until ``timeout``."""
        requested = time.time()
        connection = wait_for_ssh(
            self._hosts[machine.name],
            time.monotonic() + timeout,
            should_stop=self._stopping.is_set,
        )
        return OpenedMachine(SshSession(connection, machine.name), requested)

    def release(self, machine: Machine, timeout: float) -> None:
        """Nothing: a static host outlives the run."""

    def release_all(self, timeout: float) -> Released:
        """Nothing to destroy."""
        return Released()
