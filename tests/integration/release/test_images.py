"""Container images in a release: built on droplets, pushed by the orchestrator, checked.

The world builds ``hello`` for amd64 and arm64: one tag, an index over both platforms.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from orchestrator.errors import PublishError
from orchestrator.images.index import PlatformManifest
from orchestrator.images.names import REVISION_LABEL, RUN_LABEL, VERSION_LABEL
from orchestrator.images.push import push_image, push_index, tag_image
from orchestrator.images.registry import DOCKER_MANIFEST_LIST, Credentials, Registry
from orchestrator.images.saved import read_saved_image
from orchestrator.images.served import served_tag
from orchestrator.sandbox import registry
from orchestrator.sandbox.example import init_example_repository
from orchestrator.testing.images import saved_image
from tests.conftest import git, new_test_directory
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
    data["targets"] = [
        t for t in data["targets"] if t["name"] in ("amd64-deb", "amd64-image", "arm64-image")
    ]
    data["workspace"] = str(directory / "workspace")
    init_example_repository(
        ROOT / "examples" / "hello",
        directory / "source",
        ["v1.2.3", "v1.2.4", "v1.3.0-rc.1", "v1.2.2"],
    )
    with world_of(directory, data, sandbox) as world:
        yield world


def sandbox_registry(world: SandboxWorld) -> Registry:
    # Started by the first release that needs it, or here for a test that runs alone.
    access = registry.ensure_running(world.settings)
    return Registry(access.url, Credentials(access.username, access.password))


def busybox_machine(images: Registry, layers: list[str]) -> bytes:
    """The ELF machine field of the image's busybox (x86-64 3e00, aarch64 b700)."""
    for layer in layers:
        packed = images.blob("hello", layer, limit=64 << 20)
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(packed))) as archive:
            if "bin/busybox" in archive.getnames():
                busybox = archive.extractfile("bin/busybox")
                assert busybox is not None
                return busybox.read(20)[18:20]
    raise AssertionError("no layer holds bin/busybox")


def test_one_tag_releases_packages_and_an_image_index_and_moves_latest_only_for_plain_releases(
    world: SandboxWorld,
) -> None:
    links_before, listeners_before = links(), listeners()
    released = ok(world.invoke("release", "--tag", "v1.2.3", "--verify"))
    images = sandbox_registry(world)
    # One tag, read back with the registry API: an index over both platforms.
    raw = images.manifest("hello", "1.2.3")
    assert raw is not None and raw.media_type == DOCKER_MANIFEST_LIST
    served = served_tag(images, "hello", "1.2.3")
    assert served is not None and served.index and served.digest == raw.digest
    assert served.platforms == ("linux/amd64", "linux/arm64")
    for image, machine in zip(served.images, (b"\x3e\x00", b"\xb7\x00"), strict=True):
        assert image.version == "1.2.3", image
        assert image.labels[REVISION_LABEL] == git(
            world.directory / "source", "rev-parse", "v1.2.3^{commit}"
        )
        # Each platform's config says its architecture, and its busybox is built for it.
        config = json.loads(images.blob("hello", image.image_id))
        assert (config["os"], config["architecture"]) == ("linux", image.architecture)
        manifest = images.manifest("hello", image.digest)
        assert manifest is not None
        layers = [layer["digest"] for layer in json.loads(manifest.body)["layers"]]
        assert busybox_machine(images, layers) == machine, image.platform
    assert f"hello:1.2.3 {served.digest} (linux/amd64, linux/arm64)" in released
    latest = images.manifest("hello", "latest")
    assert latest is not None and latest.digest == served.digest
    assert "registry  1.2.3" in released
    assert "amd64         ok: hello:1.2.3 sha256:" in released
    assert "arm64         ok: hello:1.2.3 sha256:" in released

    ok(world.invoke("release", "--tag", "v1.3.0-rc.1"))
    candidate = served_tag(images, "hello", "1.3.0-rc.1")
    assert candidate is not None and {i.version for i in candidate.images} == {"1.3.0-rc.1"}
    # A pre-release moves no tag: latest still names 1.2.3.
    latest = images.manifest("hello", "latest")
    assert latest is not None and latest.digest == served.digest
    assert sorted(images.tags("hello")) == ["1.2.3", "1.3.0-rc.1", "latest"]
    verified = ok(world.invoke("verify"))
    assert verified.count("hello:1.3.0-rc.1 sha256:") == 2

    # No bridge, and nothing listens outside the loopback network.
    assert links() == links_before
    assert all(a.startswith("127.") for a in listeners() - listeners_before), listeners()


def pushed(images: Registry, tmp_path: Path, arch: str, labels: dict[str, str]) -> PlatformManifest:
    name = "-".join([arch, *labels.values()])
    archive = saved_image(tmp_path / f"{name}.tar", arch=arch, labels=labels)
    image = read_saved_image(archive, arch, max_bytes=1 << 30)
    return push_image(image, images, "hello", tmp_path / "work")


def test_verify_reads_every_platform_of_the_index(world: SandboxWorld, tmp_path: Path) -> None:
    images = sandbox_registry(world)
    # Pre-releases below every release: no later test's tags move for them.
    amd64 = pushed(images, tmp_path, "amd64", {VERSION_LABEL: "0.0.1-lie.1"})
    lying = pushed(images, tmp_path, "arm64", {VERSION_LABEL: "6.6.6"})
    push_index(images, "hello", "0.0.1-lie.1", [amd64, lying])
    failed = world.invoke("verify", "--version", "0.0.1~lie.1")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "amd64         ok: hello:0.0.1-lie.1" in failed.stdout
    assert "hello:0.0.1-lie.1 for linux/arm64 is labelled '6.6.6'" in failed.stdout
    # A platform no image target builds fails a check of its own.
    other = pushed(images, tmp_path, "s390x", {VERSION_LABEL: "0.0.1-extra.1"})
    arm64 = pushed(images, tmp_path, "arm64", {VERSION_LABEL: "0.0.1-extra.1"})
    amd64 = pushed(images, tmp_path, "amd64", {VERSION_LABEL: "0.0.1-extra.1"})
    push_index(images, "hello", "0.0.1-extra.1", [amd64, arm64, other])
    extra = world.invoke("verify", "--version", "0.0.1~extra.1")
    assert extra.returncode == 1, extra.stdout + extra.stderr
    assert "arm64         ok: hello:0.0.1-extra.1" in extra.stdout
    assert "hello:0.0.1-extra.1 has a linux/s390x image, which no image target builds" in (
        extra.stdout
    )


def test_an_image_that_fails_to_build_publishes_nothing(world: SandboxWorld) -> None:
    image_target = next(t for t in world.data["targets"] if t["name"] == "arm64-image")
    image_target["container"]["dockerfile"] = "Missing.Dockerfile"
    world.inventory_path.write_text(yaml.safe_dump(world.data))
    try:
        failed = world.invoke("release", "--tag", "v1.2.4")
    finally:
        image_target["container"]["dockerfile"] = "Dockerfile"
        world.inventory_path.write_text(yaml.safe_dump(world.data))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "arm64-image" in failed.stdout + failed.stderr
    # No platform's image is pushed, and no tag names part of the platforms.
    assert served_tag(sandbox_registry(world), "hello", "1.2.4") is None
    missing = world.invoke("verify", "--version", "1.2.4")
    assert missing.returncode == 1 and "no hello:1.2.4" in missing.stdout


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
    # What the run left: an index of amd64 only (it died before pushing arm64's, say).
    stale = pushed(images, tmp_path, "amd64", {VERSION_LABEL: "1.2.4", RUN_LABEL: run})
    stale_digest = push_index(images, "hello", "1.2.4", [stale])
    # Pushed by a run this workspace does not know (another runner): never pushed over.
    refused = world.invoke("release", "--tag", "v1.2.4")
    assert refused.returncode == 1 and "a version is pushed once" in refused.stdout + refused.stderr
    assert served_tag(images, "hello", "1.2.4").digest == stale_digest  # type: ignore[union-attr]
    # What a run killed between its push and its publish leaves: its journal, never ended.
    journal = world.directory / "workspace" / ".orchestrator" / "runs" / run / "journal.json"
    journal.parent.mkdir(parents=True)
    journal.write_text(
        json.dumps({"run_id": run, "tag": "v1.2.4", "version": "1.2.4", "status": "running"})
    )
    ok(world.invoke("release", "--tag", "v1.2.4"))
    served = served_tag(images, "hello", "1.2.4")
    assert served is not None and served.digest != stale_digest
    assert served.platforms == ("linux/amd64", "linux/arm64")
    commit = git(world.directory / "source", "rev-parse", "v1.2.4^{commit}")
    assert {image.labels[REVISION_LABEL] for image in served.images} == {commit}
    # Once published, the version is never pushed over, and releasing it again does nothing.
    with pytest.raises(PublishError, match="a version is pushed once"):
        push_index(images, "hello", "1.2.4", [stale])
    assert "already published" in ok(world.invoke("release", "--tag", "v1.2.4"))


def test_an_older_release_moves_no_tag_back(world: SandboxWorld) -> None:
    images = sandbox_registry(world)
    held = images.manifest("hello", "latest")
    summary = json.loads(ok(world.invoke("release", "--tag", "v1.2.2", "--json")))
    assert "kept latest of hello at the newer 1.2.4" in summary["messages"]
    latest = images.manifest("hello", "latest")
    assert held is not None and latest is not None and latest.digest == held.digest
    served = served_tag(images, "hello", "1.2.2")
    assert served is not None
    registry_at = f"{world.settings.registry_address}:{world.settings.registry_port}"
    assert summary["images"] == [
        {
            "target": f"{image.architecture}-image",
            "reference": f"{registry_at}/hello:1.2.2",
            "digest": served.digest,
            "platform": image.platform,
            "platform_digest": image.digest,
        }
        for image in served.images
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
