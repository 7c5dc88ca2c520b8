"""One tag for every platform: the image index a release pushes, read back, and chosen from."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config.environments import Environment
from orchestrator.config.inventory import load_inventory
from orchestrator.deploy.choose import resolve_images
from orchestrator.deploy.payload import payload_of
from orchestrator.errors import InventoryError, PublishError, UsageError
from orchestrator.images.index import (
    PlatformManifest,
    image_index,
    parse_index,
    platform_mismatch,
)
from orchestrator.images.registry import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX
from orchestrator.images.served import ServedImage, ServedTag
from orchestrator.release.operations import PushImage, PushIndex, TagImage
from orchestrator.release.plan import make_plan
from orchestrator.testing.deploy import FakeReleaseIndex
from orchestrator.verify.images import check_tag
from orchestrator.version import Revision, parse_tag
from tests.unit.config.test_inventory import ROOT, parse, sandbox_data

AMD64 = PlatformManifest("sha256:" + "a" * 64, 428, DOCKER_MANIFEST, "linux", "amd64")
ARM64 = PlatformManifest("sha256:" + "b" * 64, 429, DOCKER_MANIFEST, "linux", "arm64", "v8")
INDEX = "sha256:" + "c" * 64

REVISION = Revision("v1.2.3", "3b18e512dba79e4c8300dd08aeb37f8e728b8dad")


def test_an_index_names_each_platform_in_order_and_reads_back_the_same() -> None:
    body = image_index([AMD64, ARM64])
    document = json.loads(body)
    assert document["mediaType"] == DOCKER_MANIFEST_LIST
    assert document["schemaVersion"] == 2
    assert document["manifests"][1] == {
        "mediaType": DOCKER_MANIFEST,
        "size": 429,
        "digest": ARM64.digest,
        "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
    }
    assert "variant" not in document["manifests"][0]["platform"]
    assert parse_index(body, "hello:1.2.3") == (AMD64, ARM64)
    assert [m.platform for m in parse_index(body, "hello:1.2.3")] == ["linux/amd64", "linux/arm64"]


def test_an_oci_index_is_read_too() -> None:
    document = json.loads(image_index([AMD64]))
    document["mediaType"] = OCI_INDEX
    assert parse_index(json.dumps(document).encode(), "hello:1.2.3") == (AMD64,)


def _entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(image_index([AMD64]))["manifests"][0]
    entry.update(changes)
    return entry


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"<html>", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        ({"schemaVersion": 1, "manifests": []}, "schemaVersion"),
        ({"schemaVersion": 2, "manifests": {}}, "no list of manifests"),
        ({"schemaVersion": 2, "manifests": []}, "names no platform"),
        ({"schemaVersion": 2, "manifests": [_entry()] * 65}, "more than 64"),
        ({"schemaVersion": 2, "manifests": ["x"]}, "manifests[0]"),
        ({"schemaVersion": 2, "manifests": [_entry(digest="sha256:12")]}, "manifests[0]"),
        ({"schemaVersion": 2, "manifests": [_entry(size=-1)]}, "manifests[0]"),
        ({"schemaVersion": 2, "manifests": [_entry(size=True)]}, "manifests[0]"),
        ({"schemaVersion": 2, "manifests": [_entry(platform=None)]}, "manifests[0]"),
        ({"schemaVersion": 2, "manifests": [_entry(platform={"os": "linux", "architecture": 7})]},
         "manifests[0]"),
        # An index of indexes is not followed: one level, images only.
        ({"schemaVersion": 2, "manifests": [_entry(mediaType=DOCKER_MANIFEST_LIST)]},
         "not a single image"),
        ({"schemaVersion": 2, "manifests": [_entry(), _entry(digest="sha256:" + "d" * 64)]},
         "names linux/amd64 twice"),
    ],
)  # fmt: skip
def test_an_index_that_is_not_one_image_per_platform_is_refused(
    document: bytes | dict[str, Any], message: str
) -> None:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    with pytest.raises(PublishError, match=f"^registry x: hello:1\\.2\\.3: .*{re.escape(message)}"):
        parse_index(body, "registry x: hello:1.2.3")


def test_the_platforms_must_be_the_targets_ones() -> None:
    assert platform_mismatch(["linux/arm64", "linux/amd64"], ["linux/amd64", "linux/arm64"]) is None
    assert platform_mismatch(["linux/amd64"], ["linux/amd64", "linux/arm64"]) == (
        "it has linux/amd64, and the image targets build linux/amd64, linux/arm64 "
        "(it lacks linux/arm64)"
    )
    assert platform_mismatch(["linux/amd64", "linux/s390x"], ["linux/amd64"]) == (
        "it has linux/amd64, linux/s390x, and the image targets build linux/amd64 "
        "(no target builds linux/s390x)"
    )


def _image(arch: str, version: str = "1.2.3", index: str = INDEX) -> ServedImage:
    return ServedImage(
        digest=AMD64.digest if arch == "amd64" else ARM64.digest,
        labels={"org.opencontainers.image.version": version},
        architecture=arch,
        os="linux",
        image_id="sha256:" + ("1" if arch == "amd64" else "2") * 64,
        index=index,
    )


def test_a_host_takes_its_own_platform_and_may_know_it_by_any_of_its_digests() -> None:
    served = ServedTag(INDEX, (_image("amd64"), _image("arm64")), index=True)
    assert served.platforms == ("linux/amd64", "linux/arm64")
    arm = served.image_for("linux/arm64")
    assert arm is not None and arm.architecture == "arm64"
    # Docker's image store names it by its config, containerd's by the manifest it pulled:
    # the index, or (pulled by digest) the platform's own.
    assert arm.ids == ("sha256:" + "2" * 64, ARM64.digest, INDEX)
    assert served.image_for("linux/s390x") is None
    plain = ServedTag(AMD64.digest, (_image("amd64", index=""),))
    assert plain.image_for("linux/amd64") is not None and plain.image_for("linux/arm64") is None
    assert plain.image_for("linux/amd64").ids == ("sha256:" + "1" * 64, AMD64.digest)  # type: ignore[union-attr]


def _compose_payload(arch: str) -> Any:
    """container-dev running the project's image alone (its third party left out)."""
    inventory = load_inventory(ROOT / "inventory" / "sandbox.yaml")
    dev = inventory.environment("container-dev")
    environment: Environment = dev.model_copy(update={"arch": arch, "services": dev.services[:1]})
    return payload_of(inventory, environment)


def test_a_compose_deploy_checks_its_hosts_platform_of_the_index() -> None:
    served = ServedTag(INDEX, (_image("amd64"), _image("arm64", "6.6.6")), index=True)
    index = FakeReleaseIndex([], images={"1.2.3": served})
    resolved = resolve_images(_compose_payload("amd64"), index, "1.2.3")
    assert resolved.ids == {"hello": ("sha256:" + "1" * 64, AMD64.digest, INDEX)}
    assert resolved.digests == {"hello": INDEX}
    # Each platform's label is its own: arm64's says another version.
    with pytest.raises(UsageError, match=re.escape("linux/arm64 is labelled version '6.6.6'")):
        resolve_images(_compose_payload("arm64"), index, "1.2.3")
    amd64 = ServedTag(INDEX, (_image("amd64"),), index=True)
    amd64_only = FakeReleaseIndex([], images={"1.2.3": amd64})
    with pytest.raises(
        UsageError, match=re.escape("is for linux/amd64, and container-dev's hosts")
    ):
        resolve_images(_compose_payload("arm64"), amd64_only, "1.2.3")


def test_two_image_targets_of_one_repository_must_differ_in_arch_and_agree_on_tags() -> None:
    data = sandbox_data()
    images = [t for t in data["targets"] if t["format"] == "image"]
    assert [t["arch"] for t in images] == ["amd64", "arm64"]
    same = json.loads(json.dumps(data))
    next(t for t in same["targets"] if t["name"] == "arm64-image")["arch"] = "amd64"
    with pytest.raises(InventoryError, match=re.escape(
        "targets amd64-image and arm64-image both build hello for linux/amd64"
    )) as info:  # fmt: skip
        parse(same)
    assert info.value.exit_code == 2
    tags = json.loads(json.dumps(data))
    next(t for t in tags["targets"] if t["name"] == "arm64-image")["container"]["tags"] = []
    with pytest.raises(InventoryError, match=re.escape("give them the same container.tags")):
        parse(tags)


def test_a_release_pushes_each_platform_by_digest_then_one_index_per_repository() -> None:
    plan = make_plan(
        load_inventory(ROOT / "inventory" / "sandbox.yaml"), parse_tag("v1.2.3"), REVISION,
        "20261122t103005-a1b2c3",
    )  # fmt: skip
    images = [op for op in plan.after if isinstance(op, PushImage | PushIndex | TagImage)]
    assert [op.name for op in images] == [
        "push-image amd64-image", "push-image arm64-image", "push-index hello", "tag-image hello",
    ]  # fmt: skip
    index = images[2]
    assert isinstance(index, PushIndex)
    assert (index.repository, index.tag, index.targets, index.platforms) == (
        "hello", "1.2.3", ("amd64-image", "arm64-image"), ("linux/amd64", "linux/arm64"),
    )  # fmt: skip
    kinds = [op.kind for op in plan.after]
    # Every image before any repository is published; the moved tags after them all.
    assert kinds.index("push-index") < kinds.index("publish") < kinds.index("tag-image")


def test_a_single_arch_repository_is_an_index_too(tmp_path: Path) -> None:
    data = sandbox_data()
    data["targets"] = [t for t in data["targets"] if t["name"] != "arm64-image"]
    plan = make_plan(parse(data), parse_tag("v1.2.3"), REVISION, "20261122t103005-a1b2c3")
    (index,) = [op for op in plan.after if isinstance(op, PushIndex)]
    assert index.platforms == ("linux/amd64",)


def test_verify_checks_each_targets_platform_and_refuses_any_other() -> None:
    targets = load_inventory(ROOT / "inventory" / "sandbox.yaml").image_repositories["hello"]
    both = ServedTag(INDEX, (_image("amd64"), _image("arm64")), index=True)
    assert [(r.arch, r.ok, r.detail) for r in check_tag("r", "hello", "1.2.3", both, targets)] == [
        ("amd64", True, f"hello:1.2.3 {INDEX} (linux/amd64 {AMD64.digest[:19]})"),
        ("arm64", True, f"hello:1.2.3 {INDEX} (linux/arm64 {ARM64.digest[:19]})"),
    ]
    lying = ServedTag(INDEX, (_image("arm64", "6.6.6"), replace(_image("amd64"), architecture="s390x")), index=True)  # fmt: skip
    assert [(r.arch, r.ok, r.detail) for r in check_tag("r", "hello", "1.2.3", lying, targets)] == [
        ("amd64", False, "hello:1.2.3 has no linux/amd64 image (it has linux/arm64, linux/s390x)"),
        ("arm64", False, "hello:1.2.3 for linux/arm64 is labelled '6.6.6'"),
        ("s390x", False, "hello:1.2.3 has a linux/s390x image, which no image target builds"),
    ]
