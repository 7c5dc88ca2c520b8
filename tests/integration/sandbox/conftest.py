"""Fixtures that start real sandboxes (daemon + sshd hosts) and always clean them up.

State directories live under ``tests.conftest.TEST_ROOT`` (see there why under /tmp).
Every sandbox gets an API port and 127.X.Y.0/24 address pools (public and private) from
this test worker's share (``tests/conftest.py``), so that sandboxes of parallel test
workers never meet.
"""

from __future__ import annotations

import base64
import io
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import pytest
import requests
import yaml

from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.sandbox import control
from orchestrator.sandbox.control import SandboxInfo
from orchestrator.sandbox.keys import generate_host_key, public_of
from tests.conftest import TEST_ROOT, free_port, loopback_network


def _random_pool() -> str:
    return f"{loopback_network(100, 254)}.0/24"


@pytest.fixture
def sandbox_settings() -> Iterator[Callable[..., SandboxSettings]]:
    """A factory of sandbox settings; every sandbox made from them is stopped and removed."""
    if os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists() or not shutil.which("unshare"):
        pytest.skip("sandbox hosts need root, /usr/sbin/sshd and unshare")
    made: list[SandboxSettings] = []

    def make(**overrides: Any) -> SandboxSettings:
        values: dict[str, Any] = {
            "state_dir": TEST_ROOT / secrets.token_hex(6),
            "api_port": free_port(),
            "address_pool": _random_pool(),
            # Below every other range a test picks (see tests/integration/conftest.py).
            "private_address_pool": f"{loopback_network(10, 29)}.0/24",
            "boot_delay": 0.2,
            # Between the test's address pools (127.100-254.x.0/24, 127.10-29.x.0/24).
            "repo_server_address": f"{loopback_network(30, 69)}.1",
            "repo_http_port": free_port(),
        }
        settings = SandboxSettings(**{**values, **overrides})
        made.append(settings)
        return settings

    yield make
    for settings in made:
        try:
            control.stop(settings)
            assert control.host_processes(settings) == []
        finally:
            shutil.rmtree(settings.state_dir, ignore_errors=True)


@pytest.fixture
def sandbox_config(sandbox_settings: Callable[..., SandboxSettings]) -> SandboxSettings:
    """The settings of the ``sandbox`` fixture."""
    return sandbox_settings()


@pytest.fixture
def sandbox(sandbox_config: SandboxSettings) -> SandboxInfo:
    """A running sandbox with default test settings."""
    return control.start(sandbox_config)


@dataclass
class Api:
    """Plain ``requests`` against a sandbox, with its token."""

    info: SandboxInfo
    token: str | None = None

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token or self.info.token}"}
        return requests.request(
            method, self.info.api_url + path, headers=headers, timeout=10, **kwargs
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def create(self, name: str, **fields: Any) -> dict[str, Any]:
        body = {"name": name, "region": "nyc3", "size": "s-1vcpu-1gb", "image": "debian-12-x64"}
        response = self.post("droplets", json={**body, **fields})
        assert response.status_code == 202, response.text
        droplet: dict[str, Any] = response.json()["droplet"]
        return droplet

    def wait_status(self, droplet_id: int, status: str, timeout: float = 10) -> dict[str, Any]:
        droplet: dict[str, Any] = {}

        def reached() -> bool:
            nonlocal droplet
            droplet = self.get(f"droplets/{droplet_id}").json()["droplet"]
            return bool(droplet["status"] == status)

        wait_for(reached, timeout, f"droplet {droplet_id} to become {status}")
        return droplet

    @staticmethod
    def address(droplet: dict[str, Any], network: str = "public") -> str:
        """A droplet's IPv4 address on ``network`` (found by type: the private one comes first)."""
        (address,) = [n["ip_address"] for n in droplet["networks"]["v4"] if n["type"] == network]
        return str(address)


@pytest.fixture
def api(sandbox: SandboxInfo) -> Api:
    """Requests against the ``sandbox`` fixture."""
    return Api(sandbox)


@pytest.fixture
def api_for() -> Callable[[SandboxInfo], Api]:
    """Requests against a sandbox a test started itself."""
    return Api


def wait_for(predicate: Callable[[], bool], timeout: float = 10, what: str = "condition") -> None:
    """Poll until the predicate holds; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def waiter() -> Callable[..., None]:
    """:func:`wait_for` for test modules (conftest helpers are not importable)."""
    return wait_for


@dataclass(frozen=True)
class Identity:
    """A client key and a host key, with the user data that installs both on a droplet."""

    client: paramiko.Ed25519Key
    host_private: str
    host_public: str

    @property
    def client_public(self) -> str:
        return f"ssh-ed25519 {self.client.get_base64()} test@sandbox"

    def host_key(self) -> paramiko.Ed25519Key:
        return paramiko.Ed25519Key(data=base64.b64decode(self.host_public.split()[1]))

    def user_data(self, in_users: bool = False) -> str:
        document: dict[str, Any] = {
            "ssh_keys": {"ed25519_private": self.host_private, "ed25519_public": self.host_public}
        }
        if in_users:
            document["users"] = [{"name": "root", "ssh_authorized_keys": [self.client_public]}]
        else:
            document["ssh_authorized_keys"] = [self.client_public]
        return "#cloud-config\n" + yaml.safe_dump(document)


@pytest.fixture
def identity() -> Identity:
    """A fresh client key and host key."""
    host_private = generate_host_key()
    client = paramiko.Ed25519Key.from_private_key(io.StringIO(generate_host_key()))
    return Identity(client=client, host_private=host_private, host_public=public_of(host_private))


def ssh_run(
    address: str, command: str, client_key: paramiko.PKey, host_key: paramiko.PKey | None
) -> str:
    """Run a command as root on a sandbox host; with ``host_key`` the key is pinned."""
    client = paramiko.SSHClient()
    if host_key is None:
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    else:
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.get_host_keys().add(address, host_key.get_name(), host_key)
    try:
        client.connect(
            address,
            username="root",
            pkey=client_key,
            look_for_keys=False,
            allow_agent=False,
            timeout=5,
        )
        _, stdout, stderr = client.exec_command(command, timeout=10)
        output: str = stdout.read().decode()
        assert stdout.channel.recv_exit_status() == 0, stderr.read().decode()
        return output
    finally:
        client.close()


@pytest.fixture
def ssh() -> Callable[..., str]:
    """:func:`ssh_run` for test modules."""
    return ssh_run


def port_open(address: str, port: int = 22) -> bool:
    """Whether something accepts TCP there."""
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def probe() -> Callable[..., bool]:
    """:func:`port_open` for test modules."""
    return port_open
