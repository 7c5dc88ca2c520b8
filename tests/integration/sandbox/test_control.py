"""Starting, restarting, inspecting and stopping a sandbox through control."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import SandboxError
from orchestrator.sandbox import control, hosts, processes

pytestmark = pytest.mark.integration


def test_running_ensure_running_and_a_second_start(sandbox: Any, sandbox_config: Any) -> None:
    assert control.running(sandbox_config) == sandbox
    assert control.ensure_running(sandbox_config) == sandbox
    assert sandbox.api_url.endswith("/v2/")
    with pytest.raises(SandboxError, match="already runs"):
        control.start(sandbox_config)


def test_start_reports_a_taken_port(sandbox: Any, sandbox_settings: Any) -> None:
    clash = sandbox_settings(api_port=int(sandbox.api_url.rsplit(":", 1)[1].split("/")[0]))
    with pytest.raises(SandboxError, match=r"is already taken .*set cloud\.sandbox\.api_port"):
        control.start(clash)


def test_daemon_restart_from_the_state_file(
    api_for: Any, sandbox_settings: Any, identity: Any, ssh: Any, waiter: Any, probe: Any
) -> None:
    settings = sandbox_settings()
    first = control.start(settings)
    api = api_for(first)
    survivor = api.create("survivor", user_data=identity.user_data())
    victim = api.create("victim", user_data=identity.user_data(), tags=["keep"])
    survivor_address = api.address(api.wait_status(survivor["id"], "active"))
    victim_address = api.address(api.wait_status(victim["id"], "active"))

    # A crash: the daemon dies without any cleanup; then a host dies while it is down.
    os.kill(first.pid, signal.SIGKILL)
    processes.wait_gone([first.pid], 5)
    victim_dir = Path(settings.state_dir).absolute() / "hosts" / f"droplet-{victim['id']}"
    hosts.stop_host(victim_dir)
    assert control.running(settings) is None
    assert control.status(settings).running is False
    assert {d.name for d in control.status(settings).droplets} == {"survivor", "victim"}
    assert probe(survivor_address)

    second = control.ensure_running(settings)
    api = api_for(second)
    waiter(lambda: probe(victim_address), what="the dead host to be restarted")

    assert second.pid != first.pid
    assert second.token == first.token
    assert ssh(victim_address, "echo back", identity.client, identity.host_key()) == "back\n"
    assert api.get(f"droplets/{survivor['id']}").json()["droplet"]["status"] == "active"
    assert api.get("droplets", params={"tag_name": "keep"}).json()["meta"]["total"] == 1
    newcomer = api.create("newcomer")
    assert newcomer["id"] > victim["id"]
    assert api.address(api.wait_status(newcomer["id"], "active")) not in {
        survivor_address,
        victim_address,
    }


def test_stop_destroys_every_host_and_is_idempotent(
    sandbox_settings: Any, api_for: Any, waiter: Any
) -> None:
    settings = sandbox_settings()
    info = control.start(settings)
    api = api_for(info)
    for name in ("one", "two"):
        api.wait_status(api.create(name)["id"], "active")
    api.create("never-booted")
    assert control.host_processes(settings)

    destroyed = control.stop(settings)

    assert sorted(destroyed) == ["never-booted", "one", "two"]
    assert control.host_processes(settings) == []
    assert not processes.is_alive(info.pid)
    assert control.stop(settings) == []
    status = control.status(settings)
    assert (status.running, status.pid, status.droplets) == (False, None, ())
    assert status.describe().startswith("sandbox not running")
    assert not (Path(settings.state_dir) / "hosts").exists()


def test_stop_after_the_daemon_died(sandbox_settings: Any, api_for: Any) -> None:
    settings = sandbox_settings()
    info = control.start(settings)
    api = api_for(info)
    api.wait_status(api.create("orphan")["id"], "active")
    os.kill(info.pid, signal.SIGKILL)
    processes.wait_gone([info.pid], 5)
    assert control.host_processes(settings)

    assert control.stop(settings) == ["orphan"]
    assert control.host_processes(settings) == []


def test_status_and_request_log(api: Any, sandbox_config: Any) -> None:
    created = api.create("shown", tags=["t"])
    api.get("droplets", params={"tag_name": "t"})
    api.wait_status(created["id"], "active")

    status = control.status(sandbox_config)
    log = control.request_log(sandbox_config)

    assert status.running is True
    assert status.api_url == api.info.api_url
    (droplet,) = status.droplets
    assert (droplet.id, droplet.name, droplet.status, droplet.tags) == (
        created["id"],
        "shown",
        "active",
        ("t",),
    )
    assert droplet.address is not None
    assert droplet.created_at == created["created_at"]
    assert status.describe().splitlines()[:2] == [
        f"sandbox running: API {api.info.api_url} (pid {api.info.pid})",
        "1 droplet(s)",
    ]
    assert f"{created['id']}  shown  active  {droplet.address}  tags=t" in status.describe()
    listing = next(r for r in log if r.path == "/v2/droplets" and r.method == "GET")
    assert (listing.query, listing.status) == ({"tag_name": "t"}, 200)
    assert ("POST", "/v2/droplets", 202) in [(r.method, r.path, r.status) for r in log]
