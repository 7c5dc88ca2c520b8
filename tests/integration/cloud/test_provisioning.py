"""Provisioning against the real sandbox: droplets are real sshd hosts."""

from __future__ import annotations

import ipaddress
import re
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from orchestrator.cli.wiring.sandbox import cloud_client as open_client
from orchestrator.cloud.check import check_droplets
from orchestrator.cloud.droplets import RunDroplets
from orchestrator.engine.run_ids import new_run_id
from orchestrator.errors import CloudError, HostError, ProvisionError, SandboxError
from orchestrator.release.plan import Plan, make_plan
from orchestrator.remote.fleet import connect
from orchestrator.remote.sshkeys import generate_keypair
from orchestrator.sandbox import control
from orchestrator.version import Revision, parse_tag
from tests.integration.conftest import ROOT, SandboxWorld, ok

pytestmark = pytest.mark.integration


def new_plan(world: SandboxWorld, tag: str = "v1.2.3") -> Plan:
    run_id = new_run_id(datetime.now(UTC), secrets.token_hex(3))
    return make_plan(world.inventory, parse_tag(tag), Revision(tag, ""), run_id)


def test_the_plans_droplets_answer_over_ssh_with_pinned_keys(sandbox_world: SandboxWorld) -> None:
    client = open_client(sandbox_world.inventory)
    plan = new_plan(sandbox_world)
    results = check_droplets(client, plan, boot_timeout=20, command="echo $HOME; uname -m")
    assert sorted(r.name for r in results) == sorted(d.name for d in plan.droplets)
    assert all(r.output.splitlines() == ["/root", "x86_64"] for r in results)
    assert len({r.address for r in results}) == 5  # the tests' droplet and the 4 targets'
    sandbox_world.assert_no_droplets()


def on_the_private_network(world: SandboxWorld) -> None:
    world.data["cloud"]["network"] = "private"
    world.inventory_path.write_text(yaml.safe_dump(world.data))


def test_on_the_private_network_droplets_are_reached_on_their_vpc_address(
    sandbox_world: SandboxWorld,
) -> None:
    on_the_private_network(sandbox_world)
    output = ok(sandbox_world.invoke("cloud.check"))
    reached = re.findall(r"^ok relorch-hello-\S+ (\S+): x86_64", output, re.MULTILINE)
    private = ipaddress.IPv4Network(sandbox_world.settings.private_address_pool)
    assert len(reached) == 5, output  # the tests' droplet and the 4 targets'
    assert all(ipaddress.IPv4Address(address) in private for address in reached), output
    sandbox_world.assert_no_droplets()


def test_a_droplet_without_a_private_address_is_refused_and_destroyed(
    sandbox_world: SandboxWorld,
) -> None:
    on_the_private_network(sandbox_world)
    sandbox_world.rewrite(faults=[fault("no_private_address", name="amd64-rpm")])
    with pytest.raises(
        ProvisionError,
        match=r"droplet relorch-hello-amd64-rpm-\S+ \(\d+, active\) has no private IPv4 address, "
        r"and cloud\.network is private: set cloud\.network: public to reach droplets on their "
        r"public address$",
    ):
        check_droplets(
            open_client(sandbox_world.inventory), new_plan(sandbox_world), boot_timeout=20
        )
    sandbox_world.assert_no_droplets()


def test_a_host_presenting_another_key_is_refused(sandbox_world: SandboxWorld) -> None:
    client = open_client(sandbox_world.inventory)
    plan = new_plan(sandbox_world)
    droplets = RunDroplets(
        client,
        run_tag=plan.run_tag,
        client_key=generate_keypair(),
        max_droplets=1,
    )
    try:
        live, connection = droplets.provision(plan.droplets[0], 20)
        connection.close()
        impostor = replace(live.access, host_key=generate_keypair().public_line)
        with pytest.raises(HostError, match="host key mismatch"):
            connect(impostor)
    finally:
        assert droplets.release_all().destroyed == (plan.droplets[0].name,)
    sandbox_world.assert_no_droplets()


def fault(kind: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, **fields}


@pytest.mark.parametrize(
    ("sandbox", "status"),
    [
        (
            {
                "faults": [
                    fault("rate_limit", method="POST", path="^/v2/droplets", times=2, retry_after=1)
                ]
            },
            429,
        ),
        (
            {
                "faults": [
                    fault("server_error", method="GET", path="^/v2/droplets/", times=4, status=503)
                ]
            },
            503,
        ),
        (
            {
                "faults": [
                    fault("server_error", method="POST", path="^/v2/droplets", times=1, status=500)
                ]
            },
            500,
        ),
        ({"delete_linger": 2.0}, None),
    ],
    ids=["429-retry-after", "503-burst", "500-on-create", "delete-lingers"],
)
def test_transient_faults_are_retried(
    sandbox_world: SandboxWorld, sandbox: dict[str, Any], status: int | None
) -> None:
    sandbox_world.rewrite(**sandbox)
    client = open_client(sandbox_world.inventory)
    plan = new_plan(sandbox_world)
    results = check_droplets(client, plan, boot_timeout=20)
    assert len(results) == 5  # the tests' droplet and the 4 targets'
    if status is not None:
        assert status in {r.status for r in control.request_log(sandbox_world.settings)}
    # A retried create must not leave a duplicate droplet behind.
    sandbox_world.assert_no_droplets()


@pytest.mark.parametrize(
    ("sandbox", "error", "message"),
    [
        ({"droplet_limit": 2}, CloudError, "droplet limit"),
        ({"faults": [fault("stuck_new", name="arm64-deb")]}, ProvisionError, "still 'new'"),
        ({"faults": [fault("sshd_down", name="amd64-rpm")]}, ProvisionError, "did not answer"),
    ],
    ids=["droplet-limit", "stuck-in-new", "sshd-never-up"],
)
def test_hard_faults_fail_clearly_and_leave_nothing(
    sandbox_world: SandboxWorld, sandbox: dict[str, Any], error: type[Exception], message: str
) -> None:
    sandbox_world.rewrite(**sandbox)
    client = open_client(sandbox_world.inventory)
    plan = new_plan(sandbox_world)
    with pytest.raises(error, match=message):
        check_droplets(client, plan, boot_timeout=4)
    sandbox_world.assert_no_droplets()


def test_a_plan_the_account_cannot_hold_creates_nothing(sandbox_world: SandboxWorld) -> None:
    sandbox_world.rewrite(droplet_limit=3)
    client = open_client(sandbox_world.inventory)
    with pytest.raises(
        CloudError, match=r"droplet limit is 3 and 0 droplet.* set cloud\.max_droplets to 3"
    ):
        check_droplets(client, new_plan(sandbox_world), boot_timeout=4)
    assert not [r for r in control.request_log(sandbox_world.settings) if r.method == "POST"]


def test_a_long_rate_limit_fails_at_once_and_says_so(sandbox_world: SandboxWorld) -> None:
    sandbox_world.rewrite(
        faults=[
            fault(
                "rate_limit", method="GET", path="^/v2/droplets/[0-9]", times=1000, retry_after=3600
            )
        ]
    )
    client = open_client(sandbox_world.inventory)
    started = time.monotonic()
    with pytest.raises(CloudError, match=r"rate-limited the tool \(429, asking to wait 3600s\)"):
        check_droplets(client, new_plan(sandbox_world), boot_timeout=20)
    assert time.monotonic() - started < 15
    sandbox_world.rewrite(faults=[])
    sandbox_world.assert_no_droplets()


def test_a_running_sandbox_takes_up_the_inventorys_faults(sandbox_world: SandboxWorld) -> None:
    client = open_client(sandbox_world.inventory)  # starts the sandbox
    assert client.list_droplets("relorch") == []
    # Written to the inventory only, as a user edits it while the sandbox runs.
    sandbox_world.sandbox["faults"] = [fault("stuck_new", name="amd64-deb")]
    sandbox_world.inventory_path.write_text(yaml.safe_dump(sandbox_world.data))
    with pytest.raises(ProvisionError, match="still 'new'"):
        check_droplets(
            open_client(sandbox_world.inventory), new_plan(sandbox_world), boot_timeout=3
        )
    sandbox_world.sandbox["api_port"] += 1
    sandbox_world.inventory_path.write_text(yaml.safe_dump(sandbox_world.data))
    with pytest.raises(SandboxError, match=r"uses another api_port: run invoke sandbox\.down"):
        open_client(sandbox_world.inventory)
    sandbox_world.sandbox["api_port"] -= 1
    sandbox_world.sandbox["faults"] = []
    sandbox_world.inventory_path.write_text(yaml.safe_dump(sandbox_world.data))
    sandbox_world.assert_no_droplets()


BAD_TAGS = [
    "v1.2",
    "1.2.3",
    "v01.2.3",
    "v1.2.3; rm -rf /",
    "veilid-core-v0.1.0",
    "v1.2.3 ",
    "",
    "v1.2.3\n",
]


def test_bad_input_is_rejected_before_any_request(sandbox_world: SandboxWorld) -> None:
    control.ensure_running(sandbox_world.settings)
    before = sandbox_world.request_count()
    for tag in BAD_TAGS:
        for task in ("release", "cloud.check"):
            result = sandbox_world.invoke(task, "--tag", tag)
            assert result.returncode == 2, (tag, task, result.stderr)
            assert result.stderr.count("\n") == 1 and "is not a release tag" in result.stderr
    for key, value in (("colour", "blue"), ("max_droplets", "many")):
        data = yaml.safe_load(sandbox_world.inventory_path.read_text())
        data["cloud"][key] = value
        broken = sandbox_world.directory / "broken.yaml"
        broken.write_text(yaml.safe_dump(data))
        for args in (("release", "--tag", "v1.2.3"), ("cloud.check",), ("teardown",), ("status",)):
            result = subprocess.run(
                [sys.executable, "-m", "invoke", *args, "--inventory", str(broken)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            assert result.returncode == 2, (args, result.stderr)
            assert result.stderr.startswith(f"error: {broken}: cloud.")
    assert sandbox_world.request_count() == before


def test_a_killed_run_leaves_droplets_that_teardown_removes(sandbox_world: SandboxWorld) -> None:
    sandbox_world.rewrite(boot_delay=30.0)
    client = open_client(sandbox_world.inventory)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "invoke",
            "cloud.check",
            "--inventory",
            str(sandbox_world.inventory_path),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        # The tests' droplet and the 4 targets'.
        while len(client.list_droplets("relorch")) < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(client.list_droplets("relorch")) == 5
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    status = sandbox_world.invoke("status")
    assert status.returncode == 0, status.stderr
    assert "5 droplet(s)" in status.stdout and "s-1vcpu-1gb" in status.stdout
    result = sandbox_world.invoke("teardown")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("destroyed relorch-hello-") == 5
    sandbox_world.assert_no_droplets()
    again = sandbox_world.invoke("teardown")
    assert again.returncode == 0 and "nothing to tear down" in again.stdout


def test_teardown_selects_by_run_and_by_age(sandbox_world: SandboxWorld) -> None:
    client = open_client(sandbox_world.inventory)
    plans = [new_plan(sandbox_world), new_plan(sandbox_world)]
    droplets = [
        RunDroplets(
            client,
            run_tag=p.run_tag,
            client_key=generate_keypair(),
            max_droplets=4,
        )
        for p in plans
    ]
    try:
        for run, plan in zip(droplets, plans, strict=True):
            for machine in plan.droplets[:2]:
                run.provision(machine, 20)[1].close()
        result = sandbox_world.invoke("teardown", "--run-id", plans[0].run_id)
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("destroyed") == 2 and plans[0].run_id in result.stdout
        assert {d.name for d in client.list_droplets("relorch")} == {
            m.name for m in plans[1].droplets[:2]
        }
        old = sandbox_world.invoke("teardown", "--older-than", "60")
        assert "nothing to tear down" in old.stdout
        assert len(client.list_droplets("relorch")) == 2
        bad = sandbox_world.invoke("teardown", "--run-id", "../etc")
        assert bad.returncode == 2
    finally:
        for run in droplets:
            run.release_all()
    sandbox_world.assert_no_droplets()
