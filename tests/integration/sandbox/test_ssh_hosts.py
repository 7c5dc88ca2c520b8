"""Droplets are real sshd hosts: pinned host keys from cloud-init, root login, private /tmp."""

from __future__ import annotations

import ipaddress
import sys
from base64 import b64decode
from pathlib import Path
from typing import Any

import paramiko
import pytest

from orchestrator.sandbox import control
from orchestrator.sandbox.keys import generate_host_key, public_of

pytestmark = pytest.mark.integration


def test_active_droplet_accepts_a_pinned_login(
    api: Any, sandbox_config: Any, identity: Any, ssh: Any
) -> None:
    created = api.create("ssh-1", user_data=identity.user_data(in_users=True))
    address = api.address(api.wait_status(created["id"], "active"))

    output = ssh(
        address,
        "echo private > /tmp/marker && cat /tmp/marker && id -un && echo $HOME",
        identity.client,
        identity.host_key(),
    )

    assert output.split() == ["private", "root", "/root"]
    assert not Path("/tmp/marker").exists()
    host_dir = Path(sandbox_config.state_dir).absolute() / "hosts" / f"droplet-{created['id']}"
    assert (host_dir / "tmp" / "marker").read_text() == "private\n"

    # The private /root and /tmp hide nothing the sandbox's own Python brings (pyenv lives
    # in /root, a fresh checkout's .venv may live in /tmp).
    python = ssh(address, "command -v python3", identity.client, identity.host_key()).strip()
    if any(hidden in Path(sys.prefix).parents for hidden in (Path("/root"), Path("/tmp"))):
        assert python == f"{sys.prefix}/bin/python3"
        with pytest.raises(AssertionError, match="Read-only"):
            ssh(address, f"touch {sys.prefix}/bin/x", identity.client, identity.host_key())

    impostor = public_of(generate_host_key()).split()[1]
    with pytest.raises(paramiko.BadHostKeyException):
        ssh(address, "true", identity.client, paramiko.Ed25519Key(data=b64decode(impostor)))


def test_a_droplet_answers_on_its_private_address_too(
    api: Any, sandbox_config: Any, identity: Any, ssh: Any
) -> None:
    created = api.create("ssh-private", user_data=identity.user_data())
    active = api.wait_status(created["id"], "active")
    private, public = api.address(active, "private"), api.address(active)

    assert ipaddress.IPv4Address(private) in ipaddress.IPv4Network(
        sandbox_config.private_address_pool
    )
    for address in (private, public):
        assert ssh(address, "echo $HOME", identity.client, identity.host_key()) == "/root\n"


def test_account_keys_authorize_root(api: Any, identity: Any, ssh: Any) -> None:
    key = api.post("account/keys", json={"name": "ci", "public_key": identity.client_public})
    created = api.create("ssh-2", ssh_keys=[key.json()["ssh_key"]["id"]])
    address = api.address(api.wait_status(created["id"], "active"))

    assert ssh(address, "echo ok", identity.client, None) == "ok\n"


def test_destroy_stops_the_host(
    api: Any, sandbox_config: Any, identity: Any, ssh: Any, probe: Any, waiter: Any
) -> None:
    created = api.create("doomed", user_data=identity.user_data())
    address = api.address(api.wait_status(created["id"], "active"))
    ssh(address, "(sleep 600 >/dev/null 2>&1 &)", identity.client, identity.host_key())
    host_dir = Path(sandbox_config.state_dir).absolute() / "hosts" / f"droplet-{created['id']}"
    assert len(control.host_processes(sandbox_config)) >= 3

    assert api.delete(f"droplets/{created['id']}").status_code == 204

    waiter(lambda: control.droplet_processes(sandbox_config) == [], what="the host to stop")
    assert not probe(address)
    waiter(lambda: not host_dir.exists(), what="the host directory to go")
