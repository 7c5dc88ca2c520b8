"""The machines a release builds on: its build hosts and each target's open session.

Targets run on threads of their own while :meth:`Machines.stop` may come from any
thread (a failed target, a signal), so everything here is behind one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from orchestrator.cloud.buildhosts import BuildHosts, HostSession, Machine, OpenedMachine, Released
from orchestrator.errors import Cancelled, OrchestratorError


class Machines:
    """The run's build hosts, made at the first provision, and the targets' sessions."""

    def __init__(self) -> None:
        self._hosts: BuildHosts | None = None
        self._error: OrchestratorError | None = None
        self._sessions: dict[str, OpenedMachine] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def stopping(self) -> bool:
        """Whether the run is stopping: sessions are hung up as they open."""
        return self._stopping.is_set()

    def hosts(
        self, make: Callable[[], BuildHosts], needed: Callable[[], Sequence[Machine]]
    ) -> BuildHosts:
        """The build hosts, made once with room for the ``needed`` machines.

        When they have no room, every later provision fails the same way at once.
        """
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._hosts is None:
                hosts = make()
                try:
                    hosts.check_capacity(needed())
                except OrchestratorError as error:
                    self._error = error
                    raise
                self._hosts = hosts
            return self._hosts

    def opened(self, target: str, opened: OpenedMachine) -> None:
        """``target``'s machine is open; hung up at once if the run is stopping."""
        with self._lock:
            self._sessions[target] = opened
        if self._stopping.is_set():
            opened.session.hang_up()

    def session(self, target: str) -> HostSession:
        """``target``'s open session; Cancelled when it has none (the run is stopping)."""
        with self._lock:
            opened = self._sessions.get(target)
        if opened is None:
            raise Cancelled(f"{target}: no machine (the run is stopping)")
        return opened.session

    def let_go(self, target: str) -> tuple[OpenedMachine | None, BuildHosts | None]:
        """Forget ``target``'s session: it, and the hosts that may release its machine."""
        with self._lock:
            return self._sessions.pop(target, None), self._hosts

    def stop(self) -> None:
        """Hang every session up and stop waiting for machines (from any thread)."""
        self._stopping.set()
        with self._lock:
            hosts, sessions = self._hosts, list(self._sessions.values())
        if hosts is not None:
            hosts.stop()
        for opened in sessions:
            opened.session.hang_up()

    def release_all(self, timeout: float) -> Released | None:
        """Close every session and let every machine go; None if no host was ever made."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
            hosts = self._hosts
        for opened in sessions:
            opened.session.close()
        if hosts is None:
            return None
        return hosts.release_all(timeout)
