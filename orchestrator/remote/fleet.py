"""SSH connections to build hosts with pinned host keys, and waiting for SSH to answer.

Fabric's ``Connection`` trusts any host key by default (``AutoAddPolicy``) and ignores
known_hosts. Every connection here rejects unknown keys and knows exactly one: the key
the orchestrator injected into the droplet, or the one the inventory lists for a static
host. A host presenting another key is refused, never added.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

import tenacity

from orchestrator.config.schema import Become
from orchestrator.errors import Cancelled, HostError, HostKeyMismatch
from orchestrator.remote import sshexec
from orchestrator.remote.sshkeys import known_hosts_name, public_key_from_line

if TYPE_CHECKING:
    import paramiko
    from fabric import Connection


@dataclass(frozen=True)
class HostAccess:
    """How to reach one host: address, login and the host key to expect.

    ``become`` says how a login other than root acts as root (a deploy host's ``sudo``).
    """

    name: str
    address: str
    port: int
    user: str
    host_key: str
    client_key: paramiko.PKey | None = field(default=None, repr=False)
    identity_file: str | None = None
    become: Become | None = None


Sink = Callable[[bytes], None]


def connect(host: HostAccess, *, timeout: float = 15.0) -> Connection:
    """Open a Fabric connection that accepts only ``host.host_key``.

    Raises :class:`HostError` when the host presents a different key; lets connection
    errors (refused, timed out) through so callers can retry them.

    Fabric and paramiko are imported here, where every SSH connection of the tool is
    opened, not with the module: together they take longer to import than the tool's own
    code, and tasks that never connect (the task list, ``inventory.check``) would pay.
    """
    import paramiko
    from fabric import Connection

    connect_kwargs: dict[str, object] = {"look_for_keys": False, "allow_agent": False}
    if host.client_key is not None:
        connect_kwargs["pkey"] = host.client_key
    elif host.identity_file is not None:
        connect_kwargs["key_filename"] = host.identity_file
    else:
        connect_kwargs["allow_agent"] = True
    connection = Connection(
        host=host.address,
        user=host.user,
        port=host.port,
        connect_timeout=timeout,
        connect_kwargs=connect_kwargs,
    )
    pinned = public_key_from_line(host.host_key)
    connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    connection.client.get_host_keys().add(
        known_hosts_name(host.address, host.port), pinned.get_name(), pinned
    )
    try:
        connection.open()
    except paramiko.BadHostKeyException as error:
        connection.close()
        raise HostKeyMismatch(
            f"{host.name}: host key mismatch at {host.address}:{host.port}: expected "
            f"{pinned.get_name()} {pinned.fingerprint}, got {error.key.fingerprint}; refusing to connect"
        ) from None
    except paramiko.AuthenticationException:
        connection.close()
        raise HostError(
            f"{host.name}: {host.user}@{host.address} refused our SSH key; "
            "check the host's authorized keys"
        ) from None
    return connection


def wait_for_ssh(
    host: HostAccess,
    deadline: float,
    *,
    interval: float = 0.5,
    should_stop: Callable[[], bool] = lambda: False,
) -> Connection:
    """Connect to ``host`` as soon as its sshd answers, retrying until ``deadline`` (monotonic).

    A wrong host key fails at once: it will not become right by waiting.
    """

    def attempt() -> Connection:
        if should_stop():
            raise Cancelled(f"{host.name}: stopped while waiting for SSH")
        return connect(host, timeout=max(1.0, min(10.0, deadline - time.monotonic())))

    # Errors that waiting can cure: sshd not listening yet, or not ready for a handshake.
    transient = sshexec.lost()
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(transient),
        wait=tenacity.wait_fixed(interval),
        stop=tenacity.stop_before_delay(max(0.0, deadline - time.monotonic())),
        reraise=True,
    )
    try:
        return retrying(attempt)
    except transient as error:
        detail = f"{error.__class__.__name__}: {error}" if str(error) else error.__class__.__name__
        raise HostError(
            f"{host.name}: SSH at {host.address}:{host.port} did not answer before the "
            f"deadline ({detail})"
        ) from None


class SshSession:
    """A :class:`~orchestrator.cloud.buildhosts.HostSession` over one pinned Fabric connection."""

    def __init__(self, connection: Connection, where: str) -> None:
        self._connection = connection
        self.where = where
        self._hung_up = False

    def _connected(self) -> Connection:
        # Fabric would quietly connect again; a session that was hung up stays down.
        if self._hung_up:
            raise HostError(f"{self.where}: the session was hung up (the run is stopping)")
        return self._connection

    def run(self, command: str, *, timeout: float, output: Sink, pty: bool = False) -> int:
        """Run ``command`` on a raw channel (see :mod:`orchestrator.remote.sshexec`)."""
        return sshexec.run(
            self._connected(), command, timeout=timeout, stdout=output, pty=pty, where=self.where
        )

    def put(self, local: Path, remote: str) -> None:
        """Copy ``local`` to ``remote`` over SFTP."""
        self._connected().put(str(local), remote)

    def reading(self, command: str, *, timeout: float) -> AbstractContextManager[IO[bytes]]:
        """``command``'s standard output as a stream (see :func:`orchestrator.remote.sshexec.reading`)."""
        return sshexec.reading(self._connected(), command, timeout=timeout, where=self.where)

    def hang_up(self) -> None:
        """Close the transport itself: that ends every channel, and with it remote commands."""
        self._hung_up = True
        # Fabric's close() would first try to close an SFTP session another thread uses.
        transport = self._connection.transport
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()
