"""The droplets of one run: created with fresh host keys, waited for, always destroyed.

:class:`RunDroplets` owns every droplet of a run. Each droplet gets a new ed25519 host
key through cloud-init, so the first SSH connection is verified against it; the run's
client key is authorized the same way. Never more than ``max_droplets`` exist at once.
Every droplet is reported to ``on_created`` the moment the API returns its id (so a
journal can record it before anything else can fail), and :meth:`release_all` removes
every droplet carrying the run's tag, also ones whose create answer was lost, and says
which are still alive when the cloud does not let them go.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import tenacity

from orchestrator.cloud.buildhosts import Machine, OpenedMachine, Released
from orchestrator.cloud.digitalocean import DigitalOceanClient, DropletRequest, not_on_network
from orchestrator.cloud.userdata import render_user_data
from orchestrator.errors import Cancelled, CloudError, HostError, ProvisionError
from orchestrator.remote.fleet import HostAccess, SshSession, wait_for_ssh
from orchestrator.remote.sshkeys import KeyPair, generate_keypair

if TYPE_CHECKING:
    from fabric import Connection

DESTROY_DEADLINE_SECONDS = 120.0
T = TypeVar("T")


@dataclass(frozen=True)
class CreatedDroplet:
    """A droplet the API has accepted: what a journal must remember to clean it up."""

    name: str
    id: int
    tags: tuple[str, ...]


@dataclass(frozen=True)
class LiveDroplet:
    """A droplet that is active and answered SSH with its pinned host key."""

    machine: Machine
    id: int
    access: HostAccess
    requested_at: float  # epoch seconds when the create request went out
    ready_at: float  # epoch seconds when SSH answered
    price_hourly: float  # USD, from the droplet's size


class RunDroplets:
    """Creates, tracks and destroys the droplets of one run (a :class:`BuildHosts`)."""

    def __init__(
        self,
        client: DigitalOceanClient,
        *,
        run_tag: str,
        client_key: KeyPair,
        max_droplets: int,
        ssh_keys: tuple[int | str, ...] = (),
        on_created: Callable[[CreatedDroplet], None] | None = None,
        on_destroyed: Callable[[CreatedDroplet], None] | None = None,
    ) -> None:
        self._client = client
        self._run_tag = run_tag
        self._client_key = client_key
        self._ssh_keys = ssh_keys
        self._on_created = on_created
        self._on_destroyed = on_destroyed
        self._stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(max_droplets)
        self._max_droplets = max_droplets
        self._lock = threading.Lock()
        self._alive: dict[int, CreatedDroplet] = {}

    @property
    def alive(self) -> list[CreatedDroplet]:
        """Droplets created and not yet destroyed by this object."""
        with self._lock:
            return list(self._alive.values())

    def check_capacity(self, machines: Sequence[Machine]) -> None:
        """CloudError if the account's droplet limit cannot hold what runs at once."""
        check_capacity(self._client, min(len(machines), self._max_droplets))

    def stop(self) -> None:
        """Stop booting and creating droplets: waits end with :class:`Cancelled`."""
        self._stopping.set()

    def open(self, machine: Machine, timeout: float) -> OpenedMachine:
        """Create ``machine`` and wait until it is active and answers SSH (see :meth:`provision`)."""
        live, connection = self.provision(machine, timeout)
        return OpenedMachine(
            SshSession(connection, machine.name), live.requested_at, live.price_hourly
        )

    def provision(self, machine: Machine, timeout: float) -> tuple[LiveDroplet, Connection]:
        """Create ``machine``, wait until it is active and answers SSH; return it connected.

        Blocks while ``max_droplets`` droplets of this run exist. A droplet that was
        created but never became usable is destroyed before the error is raised.
        """
        self._slots.acquire()
        if self._stopping.is_set():
            self._slots.release()
            raise Cancelled(f"{machine.name}: not created, the run is stopping")
        try:
            return self._provision(machine, timeout)
        except BaseException:
            created = [d for d in self.alive if d.name == machine.name]
            if not created:
                self._slots.release()
            for droplet in created:
                # Best effort: release_all() at the end of the run catches what this misses.
                with contextlib.suppress(CloudError):
                    self.destroy(droplet.id)
            raise

    def _provision(self, machine: Machine, timeout: float) -> tuple[LiveDroplet, Connection]:
        requested_at = time.time()
        deadline = time.monotonic() + timeout
        host_key = generate_keypair()
        request = DropletRequest(
            name=machine.name,
            region=machine.region or "",
            size=machine.size or "",
            image=machine.image or "",
            tags=machine.tags,
            user_data=render_user_data(
                host_key.private_openssh, host_key.public_line, [self._client_key.public_line]
            ),
            ssh_keys=self._ssh_keys,
            vpc_uuid=machine.vpc_uuid,
        )
        droplet_id = self._client.create_droplet(request, self._run_tag)
        created = CreatedDroplet(machine.name, droplet_id, machine.tags)
        with self._lock:
            self._alive[droplet_id] = created
        if self._on_created is not None:
            self._on_created(created)
        address, price_hourly = self._wait_active(machine, droplet_id, deadline, timeout)
        access = HostAccess(
            name=machine.name,
            address=address,
            port=machine.port,
            user=machine.user,
            host_key=host_key.public_line,
            client_key=self._client_key.pkey(),
        )
        try:
            connection = wait_for_ssh(access, deadline, should_stop=self._stopping.is_set)
        except HostError as error:
            raise ProvisionError(str(error)) from None
        live = LiveDroplet(machine, droplet_id, access, requested_at, time.time(), price_hourly)
        return live, connection

    def _wait_active(
        self, machine: Machine, droplet_id: int, deadline: float, timeout: float
    ) -> tuple[str, float]:
        """Its address on the machine's network and its hourly price, once it is active.

        A droplet that is active and addressed, but not on that network, never will be.
        """
        name, network = machine.name, machine.network
        status = "unknown"

        def booted() -> tuple[str, float] | None:
            nonlocal status
            if self._stopping.is_set():
                raise Cancelled(f"{name}: stopped while booting")
            info = self._client.get_droplet(droplet_id, deadline)
            if info is None:
                raise ProvisionError(f"droplet {name} ({droplet_id}) disappeared while booting")
            status = info.status
            if status not in ("new", "active"):
                raise ProvisionError(f"droplet {name} ({droplet_id}) is {status!r}, not booting")
            if status != "active" or not (info.public_ipv4 or info.private_ipv4):
                return None
            address = info.ipv4(network)
            if address is None:
                raise ProvisionError(not_on_network(info, network, "cloud.network"))
            return address, info.price_hourly

        found = _poll(booted, deadline)
        if found is None:
            raise ProvisionError(
                f"droplet {name} ({droplet_id}) is still {status!r} after {timeout:.0f}s; "
                "raise cloud.boot_timeout or check the image and region"
            )
        return found

    def release(self, machine: Machine, timeout: float) -> None:
        """Destroy ``machine``'s droplet, if this run has one, and wait until it is gone."""
        with self._lock:
            ids = [d.id for d in self._alive.values() if d.name == machine.name]
        for droplet_id in ids:
            self.destroy(droplet_id, timeout)

    def destroy(self, droplet_id: int, timeout: float = DESTROY_DEADLINE_SECONDS) -> None:
        """Destroy one droplet of this run and wait until the API no longer lists it."""
        with self._lock:
            created = self._alive.get(droplet_id)
        destroy_and_confirm(self._client, [droplet_id], time.monotonic() + timeout)
        with self._lock:
            if self._alive.pop(droplet_id, None) is not None:
                self._slots.release()
        if created is not None and self._on_destroyed is not None:
            self._on_destroyed(created)

    def release_all(self, timeout: float = DESTROY_DEADLINE_SECONDS) -> Released:
        """Destroy every droplet of the run, tracked or only tagged; what is gone and what not.

        Never raises for a cloud that does not answer: the result says which droplets are
        still alive, so the caller can say how to finish the job.
        """
        deadline = time.monotonic() + timeout
        errors: list[str] = []
        with self._lock:
            everything = {d.id: d.name for d in self._alive.values()}
        try:
            listed = self._client.list_droplets(self._run_tag, deadline)
            everything.update({d.id: d.name for d in listed})
        except CloudError as error:
            errors.append(f"listing the run's droplets: {error}")
        try:
            destroy_and_confirm(self._client, list(everything), deadline)
            alive: set[int] = set()
        except CloudError as error:
            errors.append(str(error))
            alive = _still_listed(self._client, everything, deadline)
        with self._lock:
            gone = [d for d in self._alive.values() if d.id not in alive]
            for droplet in gone:
                del self._alive[droplet.id]
                self._slots.release()
        if self._on_destroyed is not None:
            for created in gone:
                self._on_destroyed(created)
        return Released(
            destroyed=tuple(sorted(name for i, name in everything.items() if i not in alive)),
            alive=tuple(sorted(everything[i] for i in alive)),
            errors=tuple(errors),
        )


def _poll(check: Callable[[], T | None], deadline: float) -> T | None:
    """``check()`` until it answers something (not None), or None at ``deadline``.

    The waits back off so that many droplets polled at once stay far below the API's
    250 requests a minute.
    """
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_result(lambda answer: answer is None),
        wait=tenacity.wait_exponential(multiplier=0.5, max=5.0),
        stop=tenacity.stop_before_delay(max(0.0, deadline - time.monotonic())),
        retry_error_callback=lambda _state: None,
    )
    return retrying(check)


def _still_listed(
    client: DigitalOceanClient, droplets: dict[int, str], deadline: float
) -> set[int]:
    """The droplets the API still lists; all of them when it cannot be asked."""
    try:
        return {i for i in droplets if client.get_droplet(i, deadline) is not None}
    except CloudError:
        return set(droplets)


def check_capacity(client: DigitalOceanClient, wanted: int) -> None:
    """CloudError, before any droplet exists, if the account cannot hold ``wanted`` at once.

    The API would say so only with a 422 once some of the run's droplets exist.
    """
    limit, existing = client.droplet_limit(), client.droplet_count()
    room = max(0, limit - existing)
    if wanted > room:
        advice = (
            f"set cloud.max_droplets to {room}"
            if room
            else "destroy some (invoke status shows the tool's)"
        )
        raise CloudError(
            f"the account's droplet limit is {limit} and {existing} droplet(s) exist, so "
            f"{room} more fit, but this run creates up to {wanted} at once: raise the limit, "
            f"destroy droplets, or {advice}"
        )


def destroy_and_confirm(
    client: DigitalOceanClient, droplet_ids: list[int], deadline: float
) -> None:
    """Delete each droplet (404 counts as gone), then poll until none is listed or ``deadline``.

    The API may answer 204 while a droplet lingers for a while: only a 404 on a later
    GET proves it gone.
    """
    errors: list[str] = []
    for droplet_id in droplet_ids:
        if time.monotonic() >= deadline:
            errors.append(f"{droplet_id}: no time left to delete it")
            continue
        try:
            client.delete_droplet(droplet_id, deadline)
        except CloudError as error:
            errors.append(f"{droplet_id}: {error}")
    remaining = set(droplet_ids)

    def gone() -> bool | None:
        remaining.intersection_update(
            {i for i in remaining if client.get_droplet(i, deadline) is not None}
        )
        return True if not remaining else None

    _poll(gone, deadline)
    if remaining:
        raise CloudError(
            f"droplets {sorted(remaining)} are still listed after deletion; "
            "run 'invoke teardown' again later"
            + (f" (delete errors: {'; '.join(errors)})" if errors else "")
        )
