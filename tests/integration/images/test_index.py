"""One tag for every platform, on the sandbox's real registry (Distribution 2.8).

Each platform's image is pushed by digest, then the index under the tag; what the
registry serves is read back platform by platform, and an index that lies about a
platform (what its config says, its size) is refused in one line.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.errors import PublishError
from orchestrator.images.index import PlatformManifest, image_index
from orchestrator.images.names import VERSION_LABEL
from orchestrator.images.push import push_image, push_index, tag_image
from orchestrator.images.registry import DOCKER_MANIFEST_LIST, Credentials, Registry
from orchestrator.images.saved import read_saved_image
from orchestrator.images.served import served_tag
from orchestrator.sandbox import registry as sandbox_registry
from orchestrator.testing.images import saved_image
from tests.conftest import free_port, loopback_network, new_test_directory

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    directory = new_test_directory()
    settings = SandboxSettings(
        state_dir=directory / "sandbox",
        api_port=free_port(),
        registry_address=f"{loopback_network(200, 254)}.2",
    )
    access = sandbox_registry.ensure_running(settings)
    try:
        yield Registry(access.url, Credentials(access.username, access.password))
    finally:
        sandbox_registry.stop(settings)
        left = sandbox_registry.processes_of(settings)
        shutil.rmtree(directory, ignore_errors=True)
        assert not left, f"registry processes left: {left}"


def pushed(
    registry: Registry, tmp_path: Path, arch: str, version: str, name: str = ""
) -> PlatformManifest:
    labels = {VERSION_LABEL: version, "name": name or arch}
    archive = saved_image(tmp_path / f"{arch}-{version}-{name}.tar", arch=arch, labels=labels)
    image = read_saved_image(archive, arch, max_bytes=1 << 30)
    return push_image(image, registry, "hello", tmp_path / "work")


def test_one_tag_names_an_image_per_platform_pushed_by_digest_first(
    registry: Registry, tmp_path: Path
) -> None:
    amd64 = pushed(registry, tmp_path, "amd64", "1.0.0")
    arm64 = pushed(registry, tmp_path, "arm64", "1.0.0")
    # By digest only: no tag names them yet.
    assert registry.tags("hello") == []
    assert registry.manifest("hello", amd64.digest) is not None
    index = push_index(registry, "hello", "1.0.0", [amd64, arm64])
    raw = registry.manifest("hello", "1.0.0")
    assert raw is not None and (raw.digest, raw.media_type) == (index, DOCKER_MANIFEST_LIST)
    served = served_tag(registry, "hello", "1.0.0")
    assert served is not None and served.index and served.digest == index
    assert served.platforms == ("linux/amd64", "linux/arm64")
    arm = served.image_for("linux/arm64")
    assert arm is not None and (arm.digest, arm.architecture, arm.version) == (
        arm64.digest, "arm64", "1.0.0",
    )  # fmt: skip
    assert arm.ids[1:] == (arm64.digest, index)
    # Pushing the same index again is no change; extra tags name the index itself.
    assert push_index(registry, "hello", "1.0.0", [amd64, arm64]) == index
    tag_image(registry, "hello", index, ["latest"])
    latest = registry.manifest("hello", "latest")
    assert latest is not None and (latest.digest, latest.media_type) == (
        index,
        DOCKER_MANIFEST_LIST,
    )


def test_a_version_tag_is_pushed_once_unless_the_run_may_replace_it(
    registry: Registry, tmp_path: Path
) -> None:
    first = pushed(registry, tmp_path, "amd64", "2.0.0", "first")
    index = push_index(registry, "hello", "2.0.0", [first])
    # Another index of the version (here: other platforms) is refused, nothing pushed.
    again = [pushed(registry, tmp_path, "amd64", "2.0.0", "again"), pushed(registry, tmp_path, "arm64", "2.0.0")]  # fmt: skip
    with pytest.raises(PublishError, match="a version is pushed once"):
        push_index(registry, "hello", "2.0.0", again)
    assert registry.manifest("hello", "2.0.0").digest == index  # type: ignore[union-attr]
    asked: list[str] = []

    def a_dead_run_pushed(digest: str) -> bool:
        asked.append(digest)
        return True

    replaced = push_index(registry, "hello", "2.0.0", again, may_replace=a_dead_run_pushed)
    assert asked == [index]
    assert served_tag(registry, "hello", "2.0.0").digest == replaced  # type: ignore[union-attr]


def _lying_index(registry: Registry, tag: str, manifests: list[PlatformManifest]) -> None:
    body = image_index(manifests)
    registry.put_manifest("hello", tag, body, DOCKER_MANIFEST_LIST)
    assert registry.manifest("hello", tag).digest == "sha256:" + hashlib.sha256(body).hexdigest()  # type: ignore[union-attr]


def test_an_index_that_lies_about_a_platform_is_refused_in_one_line(
    registry: Registry, tmp_path: Path
) -> None:
    amd64 = pushed(registry, tmp_path, "amd64", "3.0.0")
    arm64 = pushed(registry, tmp_path, "arm64", "3.0.0")
    # The arm64 image under linux/amd64's name: a host would pull the wrong binary.
    _lying_index(registry, "3.0.0-a", [replace(arm64, architecture="amd64")])
    with pytest.raises(PublishError, match=r"hello:3\.0\.0-a \(linux/amd64\): the image's config says linux/arm64, not the index's linux/amd64"):  # fmt: skip
        served_tag(registry, "hello", "3.0.0-a")
    _lying_index(registry, "3.0.0-b", [amd64, replace(arm64, size=arm64.size + 1)])
    with pytest.raises(PublishError, match=r"\(linux/arm64\): the manifest is not the size"):
        served_tag(registry, "hello", "3.0.0-b")
    body = json.loads(image_index([amd64]))
    body["manifests"].append(dict(body["manifests"][0]))
    registry.put_manifest("hello", "3.0.0-c", json.dumps(body).encode(), DOCKER_MANIFEST_LIST)
    with pytest.raises(PublishError, match="names linux/amd64 twice"):
        served_tag(registry, "hello", "3.0.0-c")
