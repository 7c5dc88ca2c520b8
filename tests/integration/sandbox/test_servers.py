"""Sandbox servers are real Debian systems: systemd as PID 1, pinned SSH, nothing beyond their address."""

from __future__ import annotations

import base64
import ipaddress
import os
import random
import secrets
import shutil
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.errors import SandboxError
from orchestrator.sandbox import servers
from orchestrator.sandbox.keys import generate_host_key, public_of
from orchestrator.sandbox.servers import ServerAccess, ServerSpec
from tests.conftest import TEST_ROOT, loopback_network

pytestmark = pytest.mark.integration

NAME = "dev-1"
# tcp LISTEN, udp unconnected (bound).
_BOUND = {"tcp": "0A", "tcp6": "0A", "udp": "07", "udp6": "07"}


@dataclass(frozen=True)
class Booted:
    settings: SandboxSettings
    access: ServerAccess
    listeners_before: set[tuple[str, str, int, int]]


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    # /proc/net writes addresses as host-order 32-bit words.
    words = struct.unpack(f"<{len(raw) // 4}I", raw)
    packed = struct.pack(f">{len(words)}I", *words)
    return str(ipaddress.ip_address(packed))


def _listeners() -> set[tuple[str, str, int, int]]:
    """(protocol, address, port, socket inode) of every listening or bound socket here."""
    found: set[tuple[str, str, int, int]] = set()
    for protocol, state in _BOUND.items():
        for line in Path(f"/proc/net/{protocol}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != state:
                continue
            hex_address, hex_port = fields[1].split(":")
            found.add((protocol, _address(hex_address), int(hex_port, 16), int(fields[9])))
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        entries = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes
    for entry in entries:
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


@pytest.fixture(scope="module")
def booted() -> Iterator[Booted]:
    """One server, booted once for the module; powered off and removed afterwards."""
    if os.geteuid() != 0 or not shutil.which("systemd-nspawn") or not shutil.which("mmdebstrap"):
        pytest.skip("sandbox servers need root, systemd-nspawn and mmdebstrap")
    settings = SandboxSettings(state_dir=TEST_ROOT / secrets.token_hex(6))
    # Below the droplet pools (127.100-254.x.0/24), above the repo servers (127.30-69.x.1).
    address = f"{loopback_network(70, 99)}.{random.randint(2, 254)}"
    before = _listeners()
    try:
        access = servers.ensure_servers(settings, [ServerSpec(NAME, address)])[NAME]
        yield Booted(settings, access, before)
    finally:
        try:
            servers.stop_servers(settings)
            assert servers.server_processes(settings) == []
        finally:
            shutil.rmtree(settings.state_dir, ignore_errors=True)


def _host_key(public: str) -> paramiko.Ed25519Key:
    return paramiko.Ed25519Key(data=base64.b64decode(public.split()[1]))


def _run(access: ServerAccess, command: str, host_key: str | None = None) -> str:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    pinned = _host_key(host_key or access.host_key)
    name = access.address if access.port == 22 else f"[{access.address}]:{access.port}"
    client.get_host_keys().add(name, pinned.get_name(), pinned)
    try:
        client.connect(
            access.address,
            port=access.port,
            username=access.user,
            key_filename=str(access.identity_file),
            look_for_keys=False,
            allow_agent=False,
            timeout=10,
        )
        _, stdout, stderr = client.exec_command(command, timeout=90)
        output: str = stdout.read().decode()
        assert stdout.channel.recv_exit_status() == 0, stderr.read().decode()
        return output
    finally:
        client.close()


def test_a_server_runs_systemd_with_no_apt_sources(booted: Booted) -> None:
    access = booted.access
    assert access.user == "root"
    assert access.identity_file.stat().st_mode & 0o777 == 0o600

    output = _run(
        access,
        "cat /proc/1/comm; systemctl is-system-running --wait; hostname; cat /etc/listen-address;"
        " find /etc/apt/sources.list /etc/apt/sources.list.d -type f 2>/dev/null | wc -l;"
        " dpkg-query -W -f '${Package}\\n' openssh-server systemd;"
        " python3 -c 'import http.server; print(\"python-ok\")'",
    )

    assert output.split() == [
        "systemd", "running", NAME, access.address, "0", "openssh-server", "systemd", "python-ok",
    ]  # fmt: skip


def test_nothing_in_a_server_listens_beyond_its_address(booted: Booted) -> None:
    access = booted.access
    # The server shares this machine's network namespace: its sockets are listed here.
    owned = set().union(*map(_socket_inodes, servers.server_processes(booted.settings)))
    listeners = _listeners()
    theirs = {entry for entry in listeners if entry[3] in owned}

    assert ("tcp", access.address, access.port) in {entry[:3] for entry in theirs}
    assert {entry[1] for entry in theirs} == {access.address}
    wildcard = {"0.0.0.0", "::"}
    new = listeners - booted.listeners_before
    assert not [entry for entry in new if entry[1] in wildcard and entry[3] in owned]


def test_a_second_ensure_keeps_the_running_server(booted: Booted) -> None:
    access = booted.access
    boot_id = _run(access, "cat /proc/sys/kernel/random/boot_id").strip()
    assert boot_id != Path("/proc/sys/kernel/random/boot_id").read_text().strip()

    again = servers.ensure_servers(booted.settings, [ServerSpec(NAME, access.address)])

    assert again == {NAME: access}
    assert _run(access, "cat /proc/sys/kernel/random/boot_id").strip() == boot_id


def test_a_wrong_host_key_is_refused(booted: Booted) -> None:
    with pytest.raises(paramiko.BadHostKeyException):
        _run(booted.access, "true", host_key=public_of(generate_host_key()))


def test_addresses_outside_loopback_are_refused(booted: Booted) -> None:
    with pytest.raises(SandboxError, match=r"outside 127\.0\.0\.0/8"):
        servers.ensure_servers(booted.settings, [ServerSpec("far-1", "10.0.0.5")])


def test_stop_leaves_no_process_and_no_root(booted: Booted) -> None:
    root = servers.server_root(booted.settings, NAME)
    assert (root / "etc" / "hostname").is_file()

    assert servers.stop_servers(booted.settings) == [NAME]

    assert servers.server_processes(booted.settings) == []
    assert not root.exists()
    with socket.socket() as probe:
        probe.settimeout(0.5)
        assert probe.connect_ex((booted.access.address, booted.access.port)) != 0
