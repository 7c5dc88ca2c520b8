"""The emulated account: droplets, SSH keys, tags and actions as records, saved at once.

This module only keeps records; :mod:`orchestrator.sandbox.lifecycle` makes droplets real
(boots, power actions and destruction of their hosts). Deadlines (boot, lingering delete)
are stored as times from ``clock``, so they survive a daemon restart.
"""

from __future__ import annotations

import ipaddress
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.sandbox.apierrors import not_found, unprocessable
from orchestrator.sandbox.faults import droplet_has_fault
from orchestrator.sandbox.state import (
    ActionRecord,
    DropletRecord,
    KeyRecord,
    PrivateAddress,
    SandboxFiles,
    SandboxState,
    load_state,
    save_state,
)

POWER_ACTIONS = ("power_off", "power_on", "shutdown", "reboot", "power_cycle")


def iso_time(seconds: float) -> str:
    """A timestamp as DigitalOcean writes them: ISO 8601, UTC, whole seconds, ``Z``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_vpc(region: str) -> str:
    """The id of a region's default VPC, where DigitalOcean puts a droplet created without one."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox:default-vpc:{region}"))


def find_droplet(state: SandboxState, droplet_id: int) -> DropletRecord | None:
    """The droplet record with this id, listed or not."""
    return next((d for d in state.droplets if d.id == droplet_id), None)


@dataclass(frozen=True)
class DropletRequest:
    """A validated ``POST /v2/droplets`` body, one entry per name."""

    names: tuple[str, ...]
    region: str
    size: str
    image: str
    ssh_keys: tuple[str | int, ...] = ()
    tags: tuple[str, ...] = ()
    user_data: str | None = None
    features: tuple[str, ...] = ()
    vpc_uuid: str | None = None


class Account:
    """The records behind the API, persisted in the state directory."""

    def __init__(
        self,
        files: SandboxFiles,
        settings: Callable[[], SandboxSettings],
        api_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_url = api_url
        self.clock = clock
        self._files = files
        self._settings = settings
        self._lock = threading.RLock()
        self._state = load_state(files)

    @contextmanager
    def locked(self) -> Iterator[SandboxState]:
        """The state, under the account's lock, for reading."""
        with self._lock:
            yield self._state

    @contextmanager
    def transaction(self) -> Iterator[SandboxState]:
        """The state, under the account's lock, saved when the block succeeds."""
        with self._lock:
            yield self._state
            save_state(self._files, self._state)

    def _iso(self) -> str:
        return iso_time(self.clock())

    def _save(self) -> None:
        save_state(self._files, self._state)

    def _visible(self) -> list[DropletRecord]:
        now = self.clock()
        return [droplet for droplet in self._state.droplets if droplet.visible(now)]

    def _visible_droplet(self, droplet_id: int) -> DropletRecord:
        droplet = find_droplet(self._state, droplet_id)
        if droplet is None or not droplet.visible(self.clock()):
            raise not_found()
        return droplet

    def _find_key(self, reference: str | int) -> KeyRecord | None:
        text = str(reference)
        for key in self._state.keys:
            if (text.isdigit() and key.id == int(text)) or key.fingerprint == text:
                return key
        return None

    # -- droplets ------------------------------------------------------------------------

    def droplets(self, tag_name: str | None = None, name: str | None = None) -> list[DropletRecord]:
        """Listed droplets, oldest first, filtered by tag and (case-insensitive) name."""
        with self._lock:
            return [
                droplet.model_copy(deep=True)
                for droplet in self._visible()
                if (tag_name is None or tag_name in droplet.tags)
                and (name is None or droplet.name.lower() == name.lower())
            ]

    def droplet(self, droplet_id: int) -> DropletRecord:
        """One listed droplet; 404 when there is none."""
        with self._lock:
            return self._visible_droplet(droplet_id).model_copy(deep=True)

    def _free_addresses(self, setting: str, pool: ipaddress.IPv4Network, count: int) -> list[str]:
        """``count`` addresses of ``pool`` no droplet holds; its first one is the gateway."""
        used = {droplet.address for droplet in self._state.droplets} | {
            droplet.private.address for droplet in self._state.droplets if droplet.private
        }
        hosts = itertools.islice(pool.hosts(), 1, None)
        free = list(itertools.islice((str(a) for a in hosts if str(a) not in used), count))
        if len(free) < count:
            raise unprocessable(
                f"The sandbox {setting} {pool} has no free address left; "
                f"destroy droplets or widen {setting}."
            )
        return free

    def create_droplets(self, request: DropletRequest) -> list[tuple[DropletRecord, ActionRecord]]:
        """Create droplets (status ``new``) with their ``create`` actions."""
        settings = self._settings()
        with self._lock:
            key_ids = []
            for reference in request.ssh_keys:
                key = self._find_key(reference)
                if key is None:
                    raise unprocessable(
                        f"ssh_keys: there is no SSH key {reference!r} (id or fingerprint) "
                        "on this account."
                    )
                key_ids.append(key.id)
            if len(self._visible()) + len(request.names) > settings.droplet_limit:
                raise unprocessable("creating this/these droplet(s) will exceed your droplet limit")
            public = ipaddress.IPv4Network(settings.address_pool)
            private = ipaddress.IPv4Network(settings.private_address_pool)
            addresses = self._free_addresses("address_pool", public, len(request.names))
            in_vpc = [
                not droplet_has_fault(settings.faults, "no_private_address", name)
                for name in request.names
            ]
            private_addresses = iter(
                self._free_addresses("private_address_pool", private, sum(in_vpc))
            )
            for tag in request.tags:
                if tag not in self._state.tags:
                    self._state.tags.append(tag)
            now, created_at = self.clock(), self._iso()
            created = []
            for name, address, has_private in zip(request.names, addresses, in_vpc, strict=True):
                droplet = DropletRecord(
                    id=self._state.next_droplet_id,
                    name=name,
                    region=request.region,
                    size=request.size,
                    image=request.image,
                    tags=list(request.tags),
                    ssh_key_ids=key_ids,
                    user_data=request.user_data,
                    features=list(request.features),
                    vpc_uuid=request.vpc_uuid or default_vpc(request.region),
                    created_at=created_at,
                    boot_at=now + settings.boot_delay,
                    address=address,
                    netmask=str(public.netmask),
                    gateway=str(next(public.hosts())),
                    private=PrivateAddress(
                        address=next(private_addresses), netmask=str(private.netmask)
                    )
                    if has_private
                    else None,
                )
                action = ActionRecord(
                    id=self._state.next_action_id,
                    type="create",
                    started_at=created_at,
                    resource_id=droplet.id,
                    region_slug=request.region,
                )
                self._state.next_droplet_id += 1
                self._state.next_action_id += 1
                self._state.droplets.append(droplet)
                self._state.actions.append(action)
                created.append((droplet.model_copy(deep=True), action.model_copy()))
            self._save()
            return created

    def _destroy_later(self, droplet: DropletRecord) -> None:
        linger = self._settings().delete_linger
        deadline = self.clock() + linger
        droplet.destroy_at = min(droplet.destroy_at or deadline, deadline)

    def delete_droplet(self, droplet_id: int) -> None:
        """Destroy a droplet: it stays listed ``delete_linger`` seconds, then its host goes."""
        with self._lock:
            self._destroy_later(self._visible_droplet(droplet_id))
            self._save()

    def delete_tagged(self, tag_name: str) -> None:
        """Destroy every droplet with this tag."""
        with self._lock:
            for droplet in self._visible():
                if tag_name in droplet.tags:
                    self._destroy_later(droplet)
            self._save()

    # -- actions -------------------------------------------------------------------------

    def start_action(self, droplet_id: int, action_type: object) -> ActionRecord:
        """Record a power action as in progress and lock the droplet until it completes."""
        if action_type not in POWER_ACTIONS:
            raise unprocessable(
                f"Action type {action_type!r} is not supported by the sandbox; "
                f"use one of {', '.join(POWER_ACTIONS)}."
            )
        with self._lock:
            droplet = self._visible_droplet(droplet_id)
            if droplet.status == "new" or droplet.locked:
                raise unprocessable("Droplet already has a pending event.")
            action = ActionRecord(
                id=self._state.next_action_id,
                type=str(action_type),
                started_at=self._iso(),
                resource_id=droplet.id,
                region_slug=droplet.region,
            )
            self._state.next_action_id += 1
            self._state.actions.append(action)
            droplet.locked = True
            self._save()
            return action.model_copy()

    def actions(self, droplet_id: int | None = None) -> list[ActionRecord]:
        """Actions, oldest first; those of one listed droplet when ``droplet_id`` is given."""
        with self._lock:
            if droplet_id is not None:
                self._visible_droplet(droplet_id)
            return [
                action.model_copy()
                for action in self._state.actions
                if droplet_id is None or action.resource_id == droplet_id
            ]

    def action(self, action_id: int, droplet_id: int | None = None) -> ActionRecord:
        """One action (of one droplet when ``droplet_id`` is given); 404 when unknown."""
        for action in self.actions(droplet_id):
            if action.id == action_id:
                return action
        raise not_found()

    # -- SSH keys ------------------------------------------------------------------------

    def ssh_keys(self) -> list[KeyRecord]:
        """The account's SSH keys, oldest first."""
        with self._lock:
            return [key.model_copy() for key in self._state.keys]

    def key(self, reference: str) -> KeyRecord:
        """One key by id or fingerprint; 404 when unknown."""
        with self._lock:
            key = self._find_key(reference)
            if key is None:
                raise not_found()
            return key.model_copy()

    def add_key(self, name: str, public_key: str, fingerprint: str) -> KeyRecord:
        """Add a checked public key to the account; 422 when it is already there."""
        with self._lock:
            if self._find_key(fingerprint) is not None:
                raise unprocessable("SSH Key is already in use on your account")
            key = KeyRecord(
                id=self._state.next_key_id,
                name=name,
                public_key=public_key,
                fingerprint=fingerprint,
            )
            self._state.next_key_id += 1
            self._state.keys.append(key)
            self._save()
            return key.model_copy()

    def rename_key(self, reference: str, name: str) -> KeyRecord:
        """Change a key's name."""
        with self._lock:
            key = self._find_key(reference)
            if key is None:
                raise not_found()
            key.name = name
            self._save()
            return key.model_copy()

    def delete_key(self, reference: str) -> None:
        """Remove a key from the account (droplets keep the keys they were created with)."""
        with self._lock:
            key = self._find_key(reference)
            if key is None:
                raise not_found()
            self._state.keys.remove(key)
            self._save()

    # -- tags ----------------------------------------------------------------------------

    def tags(self) -> list[str]:
        """The account's tags, oldest first."""
        with self._lock:
            return list(self._state.tags)

    def tag(self, name: str) -> str:
        """An existing tag; 404 when unknown."""
        with self._lock:
            if name not in self._state.tags:
                raise not_found()
            return name

    def create_tag(self, name: str) -> str:
        """Create a tag (creating an existing one is harmless, as on DigitalOcean)."""
        with self._lock:
            if name not in self._state.tags:
                self._state.tags.append(name)
                self._save()
            return name

    def delete_tag(self, name: str) -> None:
        """Delete a tag and take it off every droplet."""
        with self._lock:
            self.tag(name)
            self._state.tags.remove(name)
            for droplet in self._state.droplets:
                if name in droplet.tags:
                    droplet.tags.remove(name)
            self._save()

    def retag(self, name: str, droplet_ids: Sequence[int], add: bool) -> None:
        """Put a tag on (``add``) or take it off listed droplets; 404 for unknown ones."""
        with self._lock:
            self.tag(name)
            droplets = [self._visible_droplet(droplet_id) for droplet_id in droplet_ids]
            for droplet in droplets:
                if add and name not in droplet.tags:
                    droplet.tags.append(name)
                elif not add and name in droplet.tags:
                    droplet.tags.remove(name)
            self._save()
