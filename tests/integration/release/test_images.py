"""Container images in a release: built on a droplet, pushed by the orchestrator, checked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from orchestrator.errors import PublishError
from orchestrator.example import init_example_repository
from orchestrator.images.names import REVISION_LABEL, RUN_LABEL, VERSION_LABEL
from orchestrator.images.push import push_image, served_image, tag_image
from orchestrator.images.registry import Credentials, Registry
from orchestrator.images.saved import read_saved_image
from orchestrator.sandbox import registry
from orchestrator.testing.images import saved_image
from tests.conftest import new_test_directory
from tests.integration.conftest import (
    ROOT,
    SandboxWorld,
    links,
    listeners,
    ok,
    sandbox_inventory,
    world_of,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world() -> Iterator[SandboxWorld]:
    directory = new_test_directory()
    data, sandbox = sandbox_inventory(directory, images=True)
    data["targets"] = [t for t in data["targets"] if t["name"] in ("amd64-deb", "amd64-image")]
    data["workspace"] = str(directory / "workspace")
    init_example_repository(
        ROOT / "examples" / "hello",
        directory / "source",
        ["v1.2.3", "v1.2.4", "v1.3.0-rc.1", "v1.2.2"],
    )
    with world_of(directory, data, sandbox) as world:
        yield world


def sandbox_registry(world: SandboxWorld) -> Registry:
    access = registry.access(world.settings)
    return Registry(access.url, Credentials(access.username, access.password))


def test_one_tag_releases_packages_and_an_image_and_moves_latest_only_for_plain_releases(
    world: SandboxWorld,
) -> None:
    links_before, listeners_before = links(), listeners()
    released = ok(world.invoke("release", "--tag", "v1.2.3", "--verify"))
    images = sandbox_registry(world)
    served = served_image(images, "hello", "1.2.3")
    assert served is not None and served.version == "1.2.3", served
    assert (served.os, served.architecture) == ("linux", "amd64")
    assert served.labels["org.opencontainers.image.revision"] == "v1.2.3"
    assert served.digest in released
    latest = images.manifest("hello", "latest")
    assert latest is not None and latest.digest == served.digest
    assert "registry  1.2.3" in released and "hello:1.2.3 sha256:" in released

    ok(world.invoke("release", "--tag", "v1.3.0-rc.1"))
    candidate = served_image(images, "hello", "1.3.0-rc.1")
    assert candidate is not None and candidate.version == "1.3.0-rc.1"
    # A pre-release moves no tag: latest still names 1.2.3.
    latest = images.manifest("hello", "latest")
    assert latest is not None and latest.digest == served.digest
    assert sorted(images.tags("hello")) == ["1.2.3", "1.3.0-rc.1", "latest"]
    verified = ok(world.invoke("verify"))
    assert "hello:1.3.0-rc.1 sha256:" in verified

    # No bridge, and nothing listens outside the loopback network.
    assert links() == links_before
    assert all(a.startswith("127.") for a in listeners() - listeners_before), listeners()


def test_an_image_that_fails_to_build_publishes_nothing(world: SandboxWorld) -> None:
    image_target = next(t for t in world.data["targets"] if t["format"] == "image")
    image_target["container"]["dockerfile"] = "Missing.Dockerfile"
    world.inventory_path.write_text(yaml.safe_dump(world.data))
    try:
        failed = world.invoke("release", "--tag", "v1.2.4")
    finally:
        image_target["container"]["dockerfile"] = "Dockerfile"
        world.inventory_path.write_text(yaml.safe_dump(world.data))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "amd64-image" in failed.stdout + failed.stderr
    assert served_image(sandbox_registry(world), "hello", "1.2.4") is None
    missing = world.invoke("verify", "--version", "1.2.4")
    assert missing.returncode == 1 and "no 1.2.4" in missing.stdout


def test_every_tag_is_listed_across_pages(world: SandboxWorld) -> None:
    images = sandbox_registry(world)
    latest = images.manifest("hello", "latest")
    assert latest is not None
    extra = [f"build-{n:03d}" for n in range(130)]
    tag_image(images, "hello", latest.digest, extra)
    listed = images.tags("hello")
    assert len(listed) == len(set(listed)) and set(extra) <= set(listed)


def test_a_push_left_by_a_dead_run_is_taken_over_but_no_other_push_is(
    world: SandboxWorld, tmp_path: Path
) -> None:
    images = sandbox_registry(world)
    run = "20261201t000000-0f0f0f"
    archive = saved_image(tmp_path / "stale.tar", labels={VERSION_LABEL: "1.2.4", RUN_LABEL: run})
    stale = read_saved_image(archive, "stale", max_bytes=1 << 30)
    stale_digest = push_image(stale, images, "hello", "1.2.4", tmp_path / "work")
    # Pushed by a run this workspace does not know (another runner): never pushed over.
    refused = world.invoke("release", "--tag", "v1.2.4")
    assert refused.returncode == 1 and "a version is pushed once" in refused.stdout + refused.stderr
    assert served_image(images, "hello", "1.2.4").digest == stale_digest  # type: ignore[union-attr]
    # What a run killed between its push and its publish leaves: its journal, never ended.
    journal = world.directory / "workspace" / ".orchestrator" / "runs" / run / "journal.json"
    journal.parent.mkdir(parents=True)
    journal.write_text(
        json.dumps({"run_id": run, "tag": "v1.2.4", "version": "1.2.4", "status": "running"})
    )
    ok(world.invoke("release", "--tag", "v1.2.4"))
    served = served_image(images, "hello", "1.2.4")
    assert served is not None and served.digest != stale_digest
    assert served.labels[REVISION_LABEL] == "v1.2.4"
    # Once published, the version is never pushed over, and releasing it again does nothing.
    with pytest.raises(PublishError, match="a version is pushed once"):
        push_image(stale, images, "hello", "1.2.4", tmp_path / "work")
    assert "already published" in ok(world.invoke("release", "--tag", "v1.2.4"))


def test_an_older_release_moves_no_tag_back(world: SandboxWorld) -> None:
    images = sandbox_registry(world)
    held = images.manifest("hello", "latest")
    summary = json.loads(ok(world.invoke("release", "--tag", "v1.2.2", "--json")))
    assert "kept latest of hello at the newer 1.2.4" in summary["messages"]
    latest = images.manifest("hello", "latest")
    assert held is not None and latest is not None and latest.digest == held.digest
    served = served_image(images, "hello", "1.2.2")
    assert served is not None
    registry_at = f"{world.settings.registry_address}:{world.settings.registry_port}"
    assert summary["images"] == [
        {
            "target": "amd64-image",
            "reference": f"{registry_at}/hello:1.2.2",
            "digest": served.digest,
        }
    ]


def test_the_sandbox_engine_builds_files_and_runs_nothing(
    world: SandboxWorld, tmp_path: Path
) -> None:
    engine = {**os.environ, "DOCKER_HOST": f"tcp://{world.settings.engine_address}:2375"}
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY busybox /bin/busybox\n")
    shutil.copy("/bin/busybox", tmp_path / "busybox")
    built = subprocess.run(
        ["docker", "build", "-q", str(tmp_path)], env=engine, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    image = built.stdout.strip().splitlines()[-1]
    ran = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", image, "/bin/busybox", "echo", "escaped"],
        env=engine, capture_output=True, text=True,
    )  # fmt: skip
    assert ran.returncode != 0 and "escaped" not in ran.stdout
    (tmp_path / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN ['/bin/busybox', 'true']\n"
    )
    assert (
        subprocess.run(
            ["docker", "build", "-q", str(tmp_path)], env=engine, capture_output=True, text=True
        ).returncode
        != 0
    )
