"""Sets of services on real sandbox servers: the project's image beside a third party's.

One world for the module, with the sandbox inventory's Compose environments:
container-dev (two hosts, each tag in .env) runs ``hello`` (every release) beside
``vendor/cache`` (``^1.4.0``, pushed to the sandbox registry by its publisher, with no
version label), and container-staging (the tags in the tool's override file) takes what
container-dev proved. A release deploys the set; a service failing on one host takes the
whole set back on every touched host and marks the set failed; a promotion carries the
set, a rollback restores the previous one; env.track names where ranges and pins would
move, never outside them.
"""

from __future__ import annotations

import json
import random
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from orchestrator.sandbox import registry
from orchestrator.sandbox.example import init_example_repository
from orchestrator.sandbox.servers import server_root
from orchestrator.sandbox.vendor import push_cache
from tests.conftest import new_test_directory
from tests.integration.conftest import ROOT, SandboxWorld, ok, sandbox_inventory, world_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
DEV, STAGING = "container-dev", "container-staging"
# cache's check in this world: its /health, and on a host with a file that says so, sick
# at one version (how a service fails on one host only).
CACHE_CHECK = (
    'test ! -e /etc/cache-sick-{{ version }} && python3 -c "import sys, urllib.request; '
    "body = urllib.request.urlopen('http://{{ address }}:8081/health', timeout=2).read(); "
    "sys.exit(0 if b'cache {{ version }}' in body else 1)\""
)


@pytest.fixture(scope="module")
def world() -> Iterator[SandboxWorld]:
    directory = new_test_directory()
    data, sandbox = sandbox_inventory(directory, servers=True, images=True)
    # A copy: YAML's aliases (staging's cache is the x-cache-image anchor itself) would be
    # written back as anchors, which pins are not rewritten through.
    data = json.loads(json.dumps(data))
    data["targets"] = [t for t in data["targets"] if t["format"] == "image"]
    data["environments"] = [e for e in data["environments"] if e["name"] in (DEV, STAGING)]
    dev = data["environments"][0]
    first = dev["hosts"][0]["address"]
    net = first.rsplit(".", 1)[0]
    dev["hosts"].append({"name": "cdev-2", "address": f"{net}.{random.randint(60, 69)}",
                         "host_key": "sandbox"})  # fmt: skip
    cache = dev["services"][1]
    cache["health"] = {"command": CACHE_CHECK, "interval": 0.5, "timeout": 5, "attempts": 6}
    init_example_repository(ROOT / "examples" / "hello", directory / "source", ["v1.2.3"])
    with world_of(directory, data, sandbox) as world:
        yield world


def status(world: SandboxWorld) -> dict[str, dict[str, Any]]:
    views = json.loads(ok(world.invoke("env.status", "--json")))
    return {view["environment"]: view for view in views}


def address_of(world: SandboxWorld, host: str) -> str:
    return str(
        next(
            h["address"]
            for e in world.data["environments"]
            for h in e["hosts"]
            if h["name"] == host
        )
    )


def answer(world: SandboxWorld, host: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{address_of(world, host)}:{port}/health", timeout=5) as r:
        return str(r.read().decode()).strip()


def records(world: SandboxWorld, host: str) -> list[dict[str, Any]]:
    path = server_root(world.settings, host) / "var/lib/relorch/deploys.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def edit(world: SandboxWorld, environment: str, service: str, **changes: Any) -> None:
    """Change one service of one environment in the world's inventory."""
    for entry in world.data["environments"]:
        if entry["name"] == environment:
            for item in entry["services"]:
                if item["name"] == service:
                    item.update(changes)
    world.inventory_path.write_text(yaml.safe_dump(world.data))


def test_a_release_runs_hello_beside_the_third_partys_cache(world: SandboxWorld) -> None:
    released = ok(world.invoke("release", "--tag", "v1.2.3"))
    assert f"{DEV} runs cache 1.5.0, hello 1.2.3 on every host" in released
    for host in ("cdev-1", "cdev-2"):
        assert answer(world, host, 8080) == "hello 1.2.3"
        assert answer(world, host, 8081) == "cache 1.5.0"
        env = (server_root(world.settings, host) / "srv/hello/.env").read_text().splitlines()
        assert {"HELLO_TAG=1.2.3", "CACHE_TAG=1.5.0"} <= set(env)
        last = records(world, host)[-1]
        assert (last["version"], last["result"]) == ("cache 1.5.0, hello 1.2.3", "deployed")
        assert set(last["digests"]) == {"hello", "cache"}
    view = status(world)[DEV]
    assert view["running"] == "cache 1.5.0, hello 1.2.3"
    cache = view["services"]["cache"]
    assert (cache["version"], cache["desired"], cache["running"]) == ("^1.4.0", "1.5.0", "1.5.0")
    assert cache["digest"].startswith("sha256:") and not cache["drift"]
    assert view["services"]["hello"]["running"] == "1.2.3"
    text = ok(world.invoke("env.status", "--env", DEV))
    assert "service cache: version '^1.4.0' -> desired 1.5.0; runs 1.5.0; digest sha256:" in text


def test_track_names_what_a_range_or_a_pin_would_move_to_never_past_it(world: SandboxWorld) -> None:
    # Staging on cache 1.4.0 first: its range, narrowed for one deploy.
    edit(world, STAGING, "cache", version="~1.4.0")
    ok(world.invoke("deploy", "--env", STAGING))
    assert status(world)[STAGING]["running"] == "cache 1.4.0, hello 1.2.3"
    edit(world, STAGING, "cache", version="^1.4.0")
    tracked = json.loads(ok(world.invoke("env.track", "--env", STAGING, "--json")))[STAGING]
    cache = next(t for t in tracked if t["service"] == "cache")
    assert (cache["running"], cache["proposed"], cache["pin"]) == ("1.4.0", "1.5.0", False)
    # Pinned: the next pin is the newest of ^1.4.0 (2.0.0 is published, and never named).
    edit(world, STAGING, "cache", version="1.4.0")
    before = world.inventory_path.read_text()
    out = ok(world.invoke("env.track", "--env", STAGING, "--write"))
    assert "2.0.0" not in out.split("pinned")[0]
    after = world.inventory_path.read_text()
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 1 and "1.4.0" in changed[0][0] and "1.5.0" in changed[0][1], changed
    world.data = yaml.safe_load(after)
    edit(world, STAGING, "cache", version="^1.4.0")


def test_a_promotion_carries_the_set_and_a_rollback_restores_the_one_before(
    world: SandboxWorld,
) -> None:
    promoted = ok(world.invoke("promote", "--to", STAGING))
    assert f"promoting cache 1.5.0, hello 1.2.3 from {DEV} to {STAGING}" in promoted
    assert status(world)[STAGING]["running"] == "cache 1.5.0, hello 1.2.3"
    override = (
        server_root(world.settings, "cstaging-1") / "srv/hello/compose.override.yaml"
    ).read_text()
    assert "vendor/cache:1.5.0" in override and "/hello:1.2.3" in override
    back = ok(world.invoke("env.rollback", "--env", STAGING))
    assert "cache 1.4.0, hello 1.2.3" in back
    assert status(world)[STAGING]["running"] == "cache 1.4.0, hello 1.2.3"
    assert answer(world, "cstaging-1", 8081) == "cache 1.4.0"


def test_a_service_failing_on_one_host_takes_the_whole_set_back_everywhere(
    world: SandboxWorld,
) -> None:
    # The publisher pushes 1.5.1; on cdev-2 it is sick.
    push_cache(registry.access(world.settings), "1.5.1")
    (server_root(world.settings, "cdev-2") / "etc/cache-sick-1.5.1").write_text("sick\n")
    failed = world.invoke("deploy", "--env", DEV)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "cdev-2: cache's health check failed" in failed.stdout + failed.stderr
    for host in ("cdev-1", "cdev-2"):
        assert answer(world, host, 8081) == "cache 1.5.0"
        assert answer(world, host, 8080) == "hello 1.2.3"
        last = records(world, host)[-1]
        assert (last["version"], last["result"]) == ("cache 1.5.1, hello 1.2.3", "failed")
    view = status(world)[DEV]
    assert view["running"] == "cache 1.5.0, hello 1.2.3"
    assert "cache 1.5.1, hello 1.2.3" in view["failed_versions"]
    # Never taken again here, and never promoted: staging takes what dev runs healthy.
    again = ok(world.invoke("deploy", "--env", DEV))
    assert "runs cache 1.5.0, hello 1.2.3 already: nothing to do" in again
    assert status(world)[DEV]["running"] == "cache 1.5.0, hello 1.2.3"
    # A promotion takes what dev runs healthy, never the set that failed there (staging
    # refuses it in turn: it was rolled back from it).
    promoted = world.invoke("promote", "--to", STAGING)
    assert "promoting cache 1.5.0, hello 1.2.3 from container-dev" in promoted.stdout
    assert promoted.returncode == 2 and "was rolled back" in promoted.stderr
    assert status(world)[STAGING]["running"] == "cache 1.4.0, hello 1.2.3"
    # One service carried: hello from dev, cache staying as it runs in staging.
    carried = ok(world.invoke("promote", "--to", STAGING, "--service", "hello"))
    assert "promoting cache 1.4.0, hello 1.2.3 from container-dev" in carried
    one = world.invoke("promote", "--to", STAGING, "--service", "nope")
    assert one.returncode == 2 and "has no service 'nope'" in one.stderr


def test_bad_input_for_sets_exits_2_and_touches_no_host(world: SandboxWorld) -> None:
    before = {h: len(records(world, h)) for h in ("cdev-1", "cdev-2", "cstaging-1")}
    edit(world, DEV, "cache", version="^3.0.0")
    refused = world.invoke("deploy", "--env", DEV)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "service cache: no published version" in refused.stderr
    edit(world, DEV, "cache", version="^1.4.0")
    asked = world.invoke("promote", "--to", STAGING, "--version", "1.2.3")
    assert asked.returncode == 2 and "is not a version of each of" in asked.stderr
    assert {h: len(records(world, h)) for h in before} == before
