"""What makes droplets real: booting their hosts, power actions, destroying them.

Host work runs in worker threads outside the account's lock; while one is under way the
droplet is *busy* and :meth:`Lifecycle.tick` leaves it alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial

from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.errors import SandboxError
from orchestrator.sandbox import hosts
from orchestrator.sandbox.account import Account, find_droplet, iso_time
from orchestrator.sandbox.apierrors import unprocessable
from orchestrator.sandbox.faults import droplet_has_fault
from orchestrator.sandbox.machines import droplet_host_spec
from orchestrator.sandbox.servers import engine_url
from orchestrator.sandbox.state import ActionRecord, SandboxFiles

log = logging.getLogger(__name__)


class Lifecycle:
    """Boots due droplets, runs power actions and removes destroyed droplets with their hosts."""

    def __init__(
        self, account: Account, files: SandboxFiles, settings: Callable[[], SandboxSettings]
    ) -> None:
        self._account = account
        self._files = files
        self._settings = settings
        self._busy: set[int] = set()
        self._workers: list[threading.Thread] = []

    def _spawn(self, droplet_id: int, work: Callable[[], None]) -> None:
        # The caller holds the account's lock and has checked the droplet is not busy.
        self._busy.add(droplet_id)

        def run() -> None:
            try:
                work()
            except Exception:
                log.exception("host work for droplet %s failed", droplet_id)
            finally:
                with self._account.locked():
                    self._busy.discard(droplet_id)

        thread = threading.Thread(target=run, name=f"droplet-{droplet_id}", daemon=True)
        self._workers = [worker for worker in self._workers if worker.is_alive()] + [thread]
        thread.start()

    def _start_host(self, droplet_id: int) -> int | None:
        """Start a droplet's host unless an ``sshd_down`` fault says otherwise; None if not."""
        settings = self._settings()
        with self._account.locked() as state:
            droplet = find_droplet(state, droplet_id)
            if droplet is None:
                return None
            if droplet_has_fault(settings.faults, "sshd_down", droplet.name):
                log.info("droplet %s: sshd_down fault, its sshd stays down", droplet.name)
                return None
            foreign = droplet_has_fault(settings.faults, "foreign_host_key", droplet.name)
            spec = droplet_host_spec(
                droplet,
                state.keys,
                self._files,
                settings.ssh_port,
                docker_host=engine_url(settings),
                ignore_injected_key=foreign,
            )
        try:
            return hosts.start_host(spec)
        except SandboxError as exc:
            log.error("droplet %s: %s", droplet_id, exc)
            return None

    def tick(self) -> None:
        """Boot droplets whose boot delay passed and remove those whose deletion is due."""
        settings = self._settings()
        now = self._account.clock()
        with self._account.locked() as state:
            for droplet in state.droplets:
                if droplet.id in self._busy:
                    continue
                if not droplet.visible(now):
                    self._spawn(droplet.id, partial(self._remove, droplet.id))
                elif (
                    droplet.status == "new"
                    and now >= droplet.boot_at
                    and not droplet_has_fault(settings.faults, "stuck_new", droplet.name)
                ):
                    self._spawn(droplet.id, partial(self._boot, droplet.id))

    def recover(self) -> None:
        """After a restart: restart hosts that died and finish interrupted power actions."""
        with self._account.locked() as state:
            for action in state.actions:
                droplet = find_droplet(state, action.resource_id)
                if action.status != "in-progress" or action.type == "create" or droplet is None:
                    continue
                if droplet.id not in self._busy:
                    self._spawn(droplet.id, partial(self._power, droplet.id, action.id))
            for droplet in state.droplets:
                if droplet.id in self._busy or droplet.status != "active":
                    continue
                pid = droplet.host_pid
                if pid is None or not hosts.is_running(self._files.host(droplet.id), pid):
                    self._spawn(droplet.id, partial(self._boot, droplet.id))

    def act(self, droplet_id: int, action_type: object) -> ActionRecord:
        """Start a power action on a droplet; it completes in the background."""
        with self._account.locked():
            self._account.droplet(droplet_id)
            if droplet_id in self._busy:
                raise unprocessable("Droplet already has a pending event.")
            action = self._account.start_action(droplet_id, action_type)
            self._spawn(droplet_id, partial(self._power, droplet_id, action.id))
            return action

    def _boot(self, droplet_id: int) -> None:
        pid = self._start_host(droplet_id)
        with self._account.transaction() as state:
            droplet = find_droplet(state, droplet_id)
            if droplet is None:
                return
            droplet.status = "active"
            droplet.host_pid = pid
            completed_at = iso_time(self._account.clock())
            for action in state.actions:
                if action.resource_id != droplet_id or action.type != "create":
                    continue
                if action.status == "in-progress":
                    action.status, action.completed_at = "completed", completed_at

    def _remove(self, droplet_id: int) -> None:
        try:
            hosts.destroy_host(self._files.host(droplet_id))
        finally:
            # Whatever survived is still found by its directory: control.stop kills it.
            with self._account.transaction() as state:
                state.droplets = [d for d in state.droplets if d.id != droplet_id]

    def _power(self, droplet_id: int, action_id: int) -> None:
        with self._account.transaction() as state:
            droplet = find_droplet(state, droplet_id)
            action = next(a for a in state.actions if a.id == action_id)
            if droplet is None:
                action.status = "errored"
                return
            directory = self._files.host(droplet_id)
            pid = droplet.host_pid
            running = pid is not None and hosts.is_running(directory, pid)
        completed = True
        try:
            if action.type in ("power_off", "shutdown"):
                hosts.stop_host(directory)
                pid = None
            elif action.type != "power_on" or not running:
                hosts.stop_host(directory)
                pid = self._start_host(droplet_id)
        except SandboxError as exc:
            log.error("droplet %s: %s failed: %s", droplet_id, action.type, exc)
            completed = False
        with self._account.transaction():
            if completed:
                droplet.status = "off" if action.type in ("power_off", "shutdown") else "active"
                droplet.host_pid = pid
            droplet.locked = False
            action.status = "completed" if completed else "errored"
            action.completed_at = iso_time(self._account.clock())

    def join_workers(self, timeout: float) -> None:
        """Wait for host work under way (used when the daemon stops)."""
        deadline = time.monotonic() + timeout
        for worker in list(self._workers):
            worker.join(max(0.0, deadline - time.monotonic()))
