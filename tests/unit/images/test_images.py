"""Images a build host saved, the tags a release moves, and what a registry may answer."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import BuildError, PublishError, UsageError
from orchestrator.images.registry import Credentials, Registry, _page_tags, _same_site
from orchestrator.images.saved import (
    MAX_LAYERS,
    _check_layer_names,
    _diff_ids,
    _labels,
    check_identity,
    read_saved_image,
)
from orchestrator.release.plan import moved_tags
from orchestrator.testing.images import LAYER, saved_image
from orchestrator.version import parse_tag


def test_a_sound_archive_is_read_where_it_lies(tmp_path: Path) -> None:
    image = read_saved_image(saved_image(tmp_path / "i.tar"), "amd64-image", max_bytes=1 << 30)
    assert image.labels == {"org.opencontainers.image.version": "1.2.3"}
    assert image.config_digest == "sha256:" + hashlib.sha256(image.config).hexdigest()
    with image.layer(image.layers[0]) as layer:
        assert layer.read() == LAYER
    check_identity(image, version="1.2.3", arch="amd64", where="amd64-image")


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ({"diff_id": "sha256:" + "0" * 64}, "does not match its diff_id"),
        ({"link_layer": True}, "is not a file in it"),
        ({"images": 2}, "exactly one image"),
        ({"twice": True}, "twice"),
        # A sparse member claims any size while the archive stays small.
        ({"layer_pax": {"GNU.sparse.map": "0,0", "GNU.sparse.realsize": str(10**15)}}, "sparse"),
        ({"layer_pax": {"comment": "x" * (100 << 10)}}, "extended header of"),
        # Checked under one name, read back under another: names are canonical only.
        ({"layer_name": "./abc/layer.tar"}, "names a member"),
        ({"layer_name": "abc/../abc/layer.tar"}, "names a member"),
        ({"layer_listed": 3}, "names one layer twice"),
        # Go reads "Labels" and "labels" as one key, and keeps the last.
        ({"config_text": '{"architecture": "amd64", "Architecture": "arm64"}'}, "appears twice"),
        ({"config_text": "[" * 100_000 + "]" * 100_000}, "not JSON"),
        ({"config_text": '{"rootfs": "x"}'}, "with a rootfs"),
    ],
)
def test_an_unsound_archive_fails_the_target(
    tmp_path: Path, shape: dict[str, Any], message: str
) -> None:
    with pytest.raises(BuildError, match=f"amd64-image: .*{message}"):
        read_saved_image(saved_image(tmp_path / "i.tar", **shape), "amd64-image", max_bytes=1 << 30)


def test_layers_past_the_targets_limit_are_not_read(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="more than 100"):
        read_saved_image(saved_image(tmp_path / "i.tar"), "amd64-image", max_bytes=100)


def test_an_archive_that_is_no_tar_fails_the_target(tmp_path: Path) -> None:
    (tmp_path / "i.tar").write_bytes(b"\x00" * 10 + b"not a tar")
    with pytest.raises(BuildError, match="amd64-image: the saved image"):
        read_saved_image(tmp_path / "i.tar", "amd64-image", max_bytes=1 << 30)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ([], "with a rootfs"),
        ({"rootfs": {}}, "one diff_id per layer"),
        ({"rootfs": {"diff_ids": ["sha256:a", "sha256:b"]}}, "one diff_id per layer"),
    ],
)
def test_a_config_lists_one_diff_id_per_layer(config: Any, message: str) -> None:
    assert _diff_ids({"rootfs": {"diff_ids": ["sha256:a"]}}, ["l.tar"]) == ["sha256:a"]
    with pytest.raises(BuildError, match=message):
        _diff_ids(config, ["l.tar"])


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ([], "1 to 127 layers"),
        (["l.tar"] * (MAX_LAYERS + 1), "1 to 127 layers"),
        (["a", "a"], "twice"),
    ],
)
def test_an_image_has_a_few_layers_each_named_once(names: list[str], message: str) -> None:
    _check_layer_names(["a", "b"])
    with pytest.raises(BuildError, match=message):
        _check_layer_names(names)


def test_labels_are_strings_and_none_without_a_map() -> None:
    assert _labels({"config": {"Labels": {"a": 1}}}) == {"a": "1"}
    assert _labels({"config": {"Labels": ["a"]}}) == {}
    assert _labels({"config": "x"}) == {}
    assert _labels({}) == {}


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ({"labels": {"org.opencontainers.image.version": "6.6.6"}}, "label is '6.6.6'"),
        ({"labels": {}}, "label is None"),
        ({"arch": "arm64"}, "linux/arm64, not the target's linux/amd64"),
    ],
)
def test_an_image_that_is_not_the_release_is_refused(
    tmp_path: Path, shape: dict[str, Any], message: str
) -> None:
    image = read_saved_image(
        saved_image(tmp_path / "i.tar", **shape), "amd64-image", max_bytes=1 << 30
    )
    with pytest.raises(BuildError, match=re.escape(message)):
        check_identity(image, version="1.2.3", arch="amd64", where="amd64-image")


def test_moved_tags_render_and_never_pass_for_a_release() -> None:
    release = parse_tag("v1.4.2")
    assert moved_tags(["latest", "{{ major }}", "{{ major }}.{{ minor }}", "latest"], release, "t") == (
        "latest", "1", "1.4",
    )  # fmt: skip
    for template, message in [
        ("{{ major }}.{{ minor }}.{{ patch }}", "a release version"),
        ("1.4.3-rc.1", "a release version"),
        ("no spaces", "not an image tag"),
        ("{{ cycler.__init__.__globals__ }}", "t[0]"),
    ]:
        with pytest.raises(UsageError, match=re.escape(message)):
            moved_tags([template], release, "t")


def test_a_registry_may_not_send_the_tool_elsewhere() -> None:
    registry = Registry("http://127.0.0.1:5000", None)
    assert (
        registry._url("/v2/hello/blobs/uploads/x?y=1")
        == "http://127.0.0.1:5000/v2/hello/blobs/uploads/x?y=1"
    )
    for elsewhere in (
        "http://203.0.113.9/upload",
        "//evil.example/upload",
        "https://127.0.0.1:5000/x",
    ):
        with pytest.raises(PublishError, match="sent the tool elsewhere"):
            registry._url(elsewhere)


def test_tags_that_could_not_name_an_image_are_dropped() -> None:
    listed = json.dumps({"tags": ["1.2.3", "latest", "../../x", "a b", 7, "-x", "1.2"]}).encode()
    assert _page_tags(listed, "registry") == ["1.2.3", "latest", "1.2"]
    with pytest.raises(PublishError, match="not JSON"):
        _page_tags(b"<html>", "registry")


def test_a_token_realm_must_be_on_the_registrys_own_site() -> None:
    for realm, registry in [
        ("api.digitalocean.com", "registry.digitalocean.com"),
        ("auth.docker.io", "registry-1.docker.io"),
        ("gitlab.com", "registry.gitlab.com"),
        ("ghcr.io", "ghcr.io"),
        ("127.0.0.1", "127.0.0.1"),
    ]:
        assert _same_site(realm, registry), (realm, registry)
    for realm, registry in [
        ("evil.io", "ghcr.io"),
        ("digitalocean.com.evil.example", "registry.digitalocean.com"),
    ]:
        assert not _same_site(realm, registry), (realm, registry)
    elsewhere = Registry("https://registry.example.org", Credentials("ci", "pw"))
    with pytest.raises(PublishError, match="on another site"):
        elsewhere._token({"realm": "https://collector.example.net/token"})
    with pytest.raises(PublishError, match="not https"):
        elsewhere._token({"realm": "http://127.attacker.example/token"})
