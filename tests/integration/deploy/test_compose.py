"""Compose deploys on real sandbox servers: a real registry, real Docker, real containers.

One world for the module, whose release pushes ``hello`` for amd64 and arm64 as one tag
(an image index): dev (two hosts, the tag in .env) follows every release; staging
(two hosts, the tag in an override file, ``^1.2.0``) takes only what dev runs healthy; a
release whose container fails its health check is rolled back on every host of dev and
cannot be promoted; ``latest``, ``1.2`` and other tags that are not versions are never
deployed; a container running another image than its tag's is drift; and no bridge is
made, nothing listens outside 127.0.0.0/8. Every host is linux/amd64: it pulls that
platform's image out of the index.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.images.push import tag_image
from orchestrator.images.registry import Credentials, Registry
from orchestrator.images.served import served_tag
from orchestrator.sandbox import registry
from orchestrator.sandbox.example import init_example_repository
from orchestrator.sandbox.servers import server_root
from tests.conftest import loopback_network, new_test_directory
from tests.integration.conftest import (
    ROOT,
    SandboxWorld,
    links,
    listeners,
    ok,
    sandbox_inventory,
    world_of,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
HEALTH = {
    "http": {"url": "http://{{ address }}:8080/health", "contains": "hello {{ package_version }}"},
    "interval": 0.5,
    "timeout": 2,
    "attempts": 5,
}


def compose_environments(net: str) -> list[dict[str, Any]]:
    def hosts(name: str, first: int) -> list[dict[str, Any]]:
        return [
            {"name": f"{name}-{n}", "address": f"{net}.{first + n}", "host_key": "sandbox"}
            for n in (1, 2)
        ]

    project = {"image": "hello", "directory": "/srv/hello", "services": ["hello"]}
    return [
        {
            "name": "dev", "kind": "compose", "hosts": hosts("dev", 10), "version": "*",
            "prereleases": True, "auto": True, "health": HEALTH,
            "compose": {**project, "tag_variable": "HELLO_TAG"},
        },
        {
            "name": "staging", "kind": "compose", "from": "dev", "hosts": hosts("staging", 20),
            "version": "^1.2.0", "health": HEALTH,
            "compose": {**project, "override_file": "compose.override.yaml"},
        },
    ]  # fmt: skip


@pytest.fixture(scope="module")
def world() -> Iterator[SandboxWorld]:
    directory = new_test_directory()
    data, sandbox = sandbox_inventory(directory, images=True)
    data["targets"] = [t for t in data["targets"] if t["format"] == "image"]
    data["workspace"] = str(directory / "workspace")
    net = loopback_network(50, 99)
    data["environments"] = compose_environments(net)
    init_example_repository(
        ROOT / "examples" / "hello", directory / "source", ["v1.2.3", "v1.2.5"], broken=["v1.2.4"]
    )
    with world_of(directory, data, sandbox) as world:
        yield world


def status(world: SandboxWorld) -> dict[str, dict[str, Any]]:
    views = json.loads(ok(world.invoke("env.status", "--json")))
    return {view["environment"]: view for view in views}


def running(world: SandboxWorld, environment: str) -> dict[str, str | None]:
    return {name: h["installed"] for name, h in status(world)[environment]["hosts"].items()}


def health(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}:8080/health", timeout=5) as answer:
        return str(answer.read().decode())


def address_of(world: SandboxWorld, host: str) -> str:
    return str(
        next(
            h["address"]
            for e in world.data["environments"]
            for h in e["hosts"]
            if h["name"] == host
        )
    )


def project_file(world: SandboxWorld, host: str, name: str) -> str:
    return (server_root(world.settings, host) / "srv" / "hello" / name).read_text()


def on_host(world: SandboxWorld, host: str, command: str) -> str:
    key = server_root(world.settings, host).parent.parent / "client_key"
    result = subprocess.run(
        [
            "ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            f"root@{address_of(world, host)}", command,
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return ok(result)


def test_dev_follows_the_release_and_staging_takes_what_dev_proved(world: SandboxWorld) -> None:
    links_before, listeners_before = links(), listeners()
    released = ok(world.invoke("release", "--tag", "v1.2.3"))
    assert "dev runs 1.2.3 on every host" in released
    assert running(world, "dev") == {"dev-1": "1.2.3", "dev-2": "1.2.3"}
    assert health(address_of(world, "dev-1")).strip() == "hello 1.2.3"
    assert "HELLO_TAG=1.2.3" in project_file(world, "dev-1", ".env").splitlines()
    # Nothing of the orchestrator's push login reached the host.
    access = registry.access(world.settings)
    assert access.password not in project_file(world, "dev-1", ".env")
    # The tag is an index; the host pulled its own platform's image out of it, and its
    # Docker names the image by its config's digest, and the pull by the index's.
    served = served_tag(Registry(access.url, Credentials(access.username, access.password)), "hello", "1.2.3")  # fmt: skip
    assert served is not None and served.platforms == ("linux/amd64", "linux/arm64")
    amd64 = served.image_for("linux/amd64")
    assert amd64 is not None
    reference = f"{access.url.removeprefix('http://')}/hello"
    pulled = on_host(
        world, "dev-1",
        f"docker image inspect --format '{{{{.Id}}}} {{{{.Architecture}}}} {{{{json .RepoDigests}}}}' {reference}:1.2.3",
    ).split()  # fmt: skip
    assert pulled[:2] == [amd64.image_id, "amd64"]
    assert json.loads(pulled[2]) == [f"{reference}@{served.digest}"]

    # Staging is never deployed by the release: it is promoted from dev.
    assert running(world, "staging") == {"staging-1": None, "staging-2": None}
    promoted = ok(world.invoke("promote", "--to", "staging"))
    assert "promoting 1.2.3 from dev to staging" in promoted
    assert running(world, "staging") == {"staging-1": "1.2.3", "staging-2": "1.2.3"}
    override = project_file(world, "staging-2", "compose.override.yaml")
    assert f'image: "{access.url.removeprefix("http://")}/hello:1.2.3"' in override
    assert health(address_of(world, "staging-2")).strip() == "hello 1.2.3"
    views = status(world)
    assert all(not h["drift"] for v in views.values() for h in v["hosts"].values()), views

    # Containers run on the host network of each server: no bridge, loopback only.
    assert links() == links_before
    assert all(a.startswith("127.") for a in listeners() - listeners_before), listeners()


def test_tags_that_are_not_versions_are_never_deployed(world: SandboxWorld) -> None:
    access = registry.access(world.settings)
    images = Registry(access.url, Credentials(access.username, access.password))
    served = images.manifest("hello", "1.2.3")
    assert served is not None
    # What a registry often holds beside the versions.
    tag_image(images, "hello", served.digest, ["1.2", "2", "99.0", "v9.9.9", "nightly"])
    assert "latest" in images.tags("hello")
    assert status(world)["dev"]["desired"] == "1.2.3"
    assert "runs 1.2.3 already" in ok(world.invoke("deploy", "--env", "dev"))
    for tag in ("latest", "1.2"):
        refused = world.invoke("deploy", "--env", "dev", "--version", tag)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "not a release version" in refused.stderr
    assert running(world, "dev") == {"dev-1": "1.2.3", "dev-2": "1.2.3"}


def test_a_release_whose_container_fails_is_rolled_back_everywhere_and_never_promoted(
    world: SandboxWorld,
) -> None:
    failed = world.invoke("release", "--tag", "v1.2.4")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "health check failed" in failed.stderr
    # Both hosts of dev went back to 1.2.3 (dev deploys them at once).
    assert running(world, "dev") == {"dev-1": "1.2.3", "dev-2": "1.2.3"}
    for host in ("dev-1", "dev-2"):
        assert health(address_of(world, host)).strip() == "hello 1.2.3"
        assert "HELLO_TAG=1.2.3" in project_file(world, host, ".env").splitlines()
    assert status(world)["dev"]["failed_versions"] == ["1.2.4"]
    refused = world.invoke("promote", "--to", "staging", "--version", "1.2.4")
    assert refused.returncode == 2 and "1.2.4 failed in dev" in refused.stderr
    # staging's range takes 1.2.4, but never what failed upstream.
    assert "staging runs 1.2.3 already" in ok(world.invoke("deploy", "--env", "staging"))
    assert running(world, "staging") == {"staging-1": "1.2.3", "staging-2": "1.2.3"}


def test_a_container_running_another_image_than_its_tag_is_drift(world: SandboxWorld) -> None:
    # An image built on the host under the release's name: the tag says 1.2.3, the
    # registry does not serve that image as 1.2.3.
    reference = f"{registry.access(world.settings).url.removeprefix('http://')}/hello:1.2.3"
    on_host(
        world, "staging-1",
        f"set -e; mkdir -p /root/impostor; cd /root/impostor; "
        f"printf 'FROM {reference}\\nLABEL impostor=yes\\n' > Dockerfile; "
        f"docker build -q -t {reference} . >/dev/null; cd /srv/hello; "
        "docker-compose up -d --no-deps --force-recreate hello >/dev/null 2>&1",
    )  # fmt: skip
    drift = status(world)["staging"]["hosts"]["staging-1"]["drift"]
    assert any("not 1.2.3 as the registry serves it" in line for line in drift), drift
    assert not status(world)["staging"]["hosts"]["staging-2"]["drift"]
    # A deploy puts the registry's image back on that host, and leaves the other alone.
    fixed = ok(world.invoke("deploy", "--env", "staging", "--version", "1.2.3"))
    assert "staging-1: compose-up done" in fixed
    assert "staging-2: compose-up done (0.0s): runs 1.2.3 already" in fixed
    assert all(not h["drift"] for h in status(world)["staging"]["hosts"].values())


def promotion(world: SandboxWorld) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", "promote", "--to", "staging",
         "--inventory", str(world.inventory_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
    )  # fmt: skip


@contextlib.contextmanager
def health_held(world: SandboxWorld, environment: str, version: str) -> Iterator[None]:
    """The environment's health check of ``version`` lasts a minute while in the block.

    A signal sent once a host's containers changed then finds the deploy still running
    however late the test sends it (on a loaded machine the whole promotion once ended
    first); the check of any other version (a revert's) passes at once.
    """
    entry = next(e for e in world.data["environments"] if e["name"] == environment)
    saved = entry["health"]
    entry["health"] = {
        "command": f"[ {{{{ version }}}} != {version} ] || sleep 60",
        "timeout": 90,
        "attempts": 1,
    }
    world.rewrite()
    try:
        yield
    finally:
        entry["health"] = saved
        world.rewrite()


def stop_after_a_host_changed(run: subprocess.Popen[str], how: Callable[[], None]) -> str:
    assert run.stdout is not None
    seen = []
    for line in run.stdout:
        seen.append(line)
        if ": compose-up done" in line:
            how()
            break
    rest, _ = run.communicate(timeout=180)
    return "".join(seen) + rest


def last_record(world: SandboxWorld, host: str) -> dict[str, Any]:
    path = server_root(world.settings, host) / "var/lib/relorch/deploys.jsonl"
    return dict(json.loads(path.read_text().splitlines()[-1]))


def test_a_signal_mid_promotion_puts_the_touched_hosts_back(world: SandboxWorld) -> None:
    assert "dev runs 1.2.5 on every host" in ok(world.invoke("release", "--tag", "v1.2.5"))
    with health_held(world, "staging", "1.2.5"):
        run = promotion(world)
        out = stop_after_a_host_changed(run, lambda: run.send_signal(signal.SIGINT))
    assert run.returncode == 130, out
    assert "was interrupted" in out
    assert running(world, "staging") == {"staging-1": "1.2.3", "staging-2": "1.2.3"}
    assert health(address_of(world, "staging-1")).strip() == "hello 1.2.3"
    assert status(world)["staging"]["lock"] is None
    assert "interrupted" in {last_record(world, h)["result"] for h in ("staging-1", "staging-2")}
    # Nothing the deploy kept to go back stays on the hosts.
    for host in ("staging-1", "staging-2"):
        assert (
            not (server_root(world.settings, host) / "var/lib/relorch/compose")
            .joinpath("staging")
            .exists()
        )


def test_a_promotion_killed_mid_way_names_its_lock_and_the_next_converges(
    world: SandboxWorld,
) -> None:
    with health_held(world, "staging", "1.2.5"):
        run = promotion(world)
        out = stop_after_a_host_changed(run, lambda: os.killpg(run.pid, signal.SIGKILL))
    assert run.returncode == -signal.SIGKILL, out
    shown = ok(world.invoke("env.unlock", "--env", "staging"))
    assert "is locked by run" in shown and "promote 1.2.5" in shown
    ok(world.invoke("env.unlock", "--env", "staging", "--force"))
    ok(world.invoke("promote", "--to", "staging"))
    assert running(world, "staging") == {"staging-1": "1.2.5", "staging-2": "1.2.5"}
    views = status(world)["staging"]
    assert views["lock"] is None and all(not h["drift"] for h in views["hosts"].values())
    assert health(address_of(world, "staging-2")).strip() == "hello 1.2.5"


def test_a_rollback_puts_the_previous_tag_back_and_the_page_shows_every_host(
    world: SandboxWorld,
) -> None:
    assert running(world, "dev") == {"dev-1": "1.2.5", "dev-2": "1.2.5"}
    back = ok(world.invoke("env.rollback", "--env", "dev"))
    assert "dev runs 1.2.3 on every host" in back, back
    assert health(address_of(world, "dev-2")).strip() == "hello 1.2.3"
    # A range does not take back what was rolled back from.
    assert "every host of dev runs 1.2.3 already" in ok(world.invoke("deploy", "--env", "dev"))
    page = Path(ok(world.invoke("env.page")).strip().removeprefix("environments page: "))
    text = page.read_text()
    assert all(host in text for host in ("dev-1", "dev-2", "staging-1", "staging-2"))
    assert "1.2.5" in text and "1.2.4" in text


def test_the_plan_names_the_compose_steps(world: SandboxWorld) -> None:
    planned = ok(world.invoke("deploy", "--env", "dev", "--version", "1.2.3", "--dry-run"))
    assert "compose-up: " in planned
    assert "$dc pull -q hello;" in planned and "$dc up -d --no-deps hello;" in planned
    assert "sources" not in planned  # no apt source: the hosts pull from the registry
