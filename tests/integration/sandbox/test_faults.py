"""Injected faults, set at start and changed at runtime through control.configure."""

from __future__ import annotations

import time
from typing import Any

import pytest

from orchestrator.config.sandbox_settings import FaultRule
from orchestrator.sandbox import control

pytestmark = pytest.mark.integration


def test_rate_limit_fault_configured_at_runtime(api: Any, sandbox_config: Any) -> None:
    assert api.get("droplets").status_code == 200
    rule = FaultRule(
        kind="rate_limit", method="get", path="^/v2/droplets$", after=1, times=2, retry_after=7
    )
    control.configure(sandbox_config.model_copy(update={"faults": [rule]}))

    statuses = [api.get("droplets") for _ in range(4)]

    assert [r.status_code for r in statuses] == [200, 429, 429, 200]
    assert statuses[1].headers["Retry-After"] == "7"
    assert statuses[1].json() == {"id": "too_many_requests", "message": "API Rate limit exceeded."}
    assert "ratelimit-limit" in statuses[1].headers
    assert api.get("account").status_code == 200
    log = [(r.method, r.path, r.status) for r in control.request_log(sandbox_config)]
    assert log[-5:] == [("GET", "/v2/droplets", s) for s in (200, 429, 429, 200)] + [
        ("GET", "/v2/account", 200)
    ]


def test_server_error_burst(sandbox_settings: Any, api_for: Any) -> None:
    faults = [FaultRule(kind="server_error", status=503, method="POST", path="/v2/droplets")]
    settings = sandbox_settings(faults=faults)
    api = api_for(control.start(settings))
    body = {"name": "retry", "region": "nyc3", "size": "s-1vcpu-1gb", "image": "debian-12-x64"}

    first = api.post("droplets", json=body)
    second = api.post("droplets", json=body)

    assert first.status_code == 503
    assert first.json() == {
        "id": "service_unavailable",
        "message": "Service temporarily unavailable (injected by the sandbox).",
    }
    assert second.status_code == 202
    assert [r.status for r in control.request_log(settings) if r.method == "POST"] == [503, 202]


def test_stuck_new_and_sshd_down(api: Any, sandbox_config: Any, probe: Any) -> None:
    faults = [
        FaultRule(kind="stuck_new", name="^stuck-"),
        FaultRule(kind="sshd_down", name="^mute-"),
    ]
    control.configure(sandbox_config.model_copy(update={"faults": faults}))
    stuck = api.create("stuck-1")
    mute = api.create("mute-1")
    fine = api.create("fine-1")

    api.wait_status(fine["id"], "active")
    mute_active = api.wait_status(mute["id"], "active")
    time.sleep(sandbox_config.boot_delay * 2)

    assert api.get(f"droplets/{stuck['id']}").json()["droplet"]["status"] == "new"
    assert api.get(f"droplets/{stuck['id']}/actions").json()["actions"][0]["status"] == (
        "in-progress"
    )
    assert not probe(api.address(mute_active))

    control.configure(sandbox_config)
    api.wait_status(stuck["id"], "active")


def test_no_private_address(api: Any, sandbox_config: Any, probe: Any) -> None:
    faults = [FaultRule(kind="no_private_address", name="^legacy-")]
    control.configure(sandbox_config.model_copy(update={"faults": faults}))
    legacy = api.wait_status(api.create("legacy-1")["id"], "active")
    modern = api.wait_status(api.create("modern-1")["id"], "active")

    assert [n["type"] for n in legacy["networks"]["v4"]] == ["public"]
    assert [n["type"] for n in modern["networks"]["v4"]] == ["private", "public"]
    assert probe(api.address(legacy)) and probe(api.address(modern, "private"))


def test_delete_linger(sandbox_settings: Any, api_for: Any, waiter: Any) -> None:
    settings = sandbox_settings(delete_linger=0.8)
    api = api_for(control.start(settings))
    droplet = api.create("linger")
    api.wait_status(droplet["id"], "active")

    deleted_at = time.monotonic()
    assert api.delete(f"droplets/{droplet['id']}").status_code == 204
    assert api.get(f"droplets/{droplet['id']}").status_code == 200
    assert len(control.host_processes(settings)) >= 2
    waiter(lambda: api.get(f"droplets/{droplet['id']}").status_code == 404, what="the droplet")

    assert time.monotonic() - deleted_at >= 0.7
    waiter(lambda: control.droplet_processes(settings) == [], what="the host to stop")
