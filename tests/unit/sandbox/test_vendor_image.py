"""The sandbox's third-party image, ``cache``, as its publisher builds it (no I/O).

Built from stand-in static busyboxes (a few bytes of ELF header each), so every test is
pure: its layers' files, its config (entrypoint, platform, no version label), one image or
an index by the platforms there are, and the same digests every time.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import tarfile
from pathlib import Path

import pytest

from orchestrator.errors import SandboxError
from orchestrator.images.index import parse_index
from orchestrator.images.names import VERSION_LABEL
from orchestrator.images.registry import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
)
from orchestrator.sandbox.vendorimage import (
    ENTRYPOINT,
    PlatformImage,
    build_image,
    static_busybox,
)

PT_LOAD, PT_INTERP = 1, 3


def elf(machine: int, *types: int) -> bytes:
    """A 64-bit little-endian ELF header with program headers of ``types`` (PT_LOAD: static)."""
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<H", header, 18, machine)
    struct.pack_into("<Q", header, 0x20, 64)
    struct.pack_into("<HH", header, 0x36, 56, len(types or (PT_LOAD,)))
    programs = b"".join(struct.pack("<I", t) + bytes(52) for t in types or (PT_LOAD,))
    return bytes(header) + programs + b"busybox body"


AMD64, ARM64 = elf(0x3E), elf(0xB7)
BOTH = {"amd64": AMD64, "arm64": ARM64}


def files(layer: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as archive:
        return archive.getmembers()


def contents(layer: bytes) -> dict[str, bytes | None]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as archive:
        return {
            m.name: (reader.read() if (reader := archive.extractfile(m)) else None)
            for m in archive.getmembers()
        }


def config_of(image: PlatformImage) -> dict[str, object]:
    document: dict[str, object] = json.loads(image.config.data)
    return document


def test_the_image_is_a_busybox_and_its_health_text() -> None:
    (image,) = build_image("1.4.0", busyboxes={"amd64": AMD64}).images
    busybox, www = image.layers
    assert contents(busybox.data) == {"bin": None, "bin/busybox": AMD64}
    assert contents(www.data) == {"www": None, "www/health": b"cache 1.4.0\n"}
    modes = {m.name: (m.mode, m.uid, m.gid, m.mtime) for m in files(busybox.data)}
    assert modes["bin/busybox"] == (0o755, 0, 0, 0)
    assert all(m.mtime == 0 and m.uid == m.gid == 0 for m in files(www.data))


def test_an_unhealthy_image_has_an_empty_www() -> None:
    (image,) = build_image("1.5.1", healthy=False, busyboxes={"amd64": AMD64}).images
    assert contents(image.layers[1].data) == {"www": None}


def test_its_entrypoint_serves_www_on_8081_of_the_listen_address() -> None:
    (image,) = build_image("2.0.0", busyboxes={"amd64": AMD64}).images
    config = config_of(image)
    inner = config["config"]
    assert isinstance(inner, dict)
    assert inner["Entrypoint"] == list(ENTRYPOINT)
    assert ENTRYPOINT[:3] == ("/bin/busybox", "sh", "-c")
    assert ENTRYPOINT[3] == (
        "exec /bin/busybox httpd -f -h /www -p "
        '"$(/bin/busybox cat /etc/listen-address 2>/dev/null || echo 127.0.0.1):8081"'
    )
    # An outside publisher's image: no version label for a deploy to lean on.
    assert VERSION_LABEL not in inner.get("Labels", {})
    assert "2.0.0" not in image.config.data.decode()
    assert (config["os"], config["architecture"]) == ("linux", "amd64")


def test_the_manifest_names_the_config_and_layers_and_diff_ids_are_the_plain_tars() -> None:
    (image,) = build_image("1.4.0", busyboxes={"amd64": AMD64}).images
    manifest = json.loads(image.manifest)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert manifest["config"] == {
        "mediaType": DOCKER_CONFIG,
        "size": len(image.config.data),
        "digest": "sha256:" + hashlib.sha256(image.config.data).hexdigest(),
    }
    assert [layer["mediaType"] for layer in manifest["layers"]] == [DOCKER_LAYER] * 2
    assert [layer["digest"] for layer in manifest["layers"]] == [b.digest for b in image.layers]
    assert [layer["size"] for layer in manifest["layers"]] == [len(b.data) for b in image.layers]
    rootfs = config_of(image)["rootfs"]
    assert isinstance(rootfs, dict)
    assert rootfs["diff_ids"] == [
        "sha256:" + hashlib.sha256(gzip.decompress(b.data)).hexdigest() for b in image.layers
    ]


def test_amd64_alone_is_one_image_with_arm64_an_index_of_both() -> None:
    single = build_image("1.4.0", busyboxes={"amd64": AMD64})
    assert single.platforms == ("linux/amd64",)
    assert (single.media_type, single.manifest) == (DOCKER_MANIFEST, single.images[0].manifest)
    both = build_image("1.4.0", busyboxes=BOTH)
    assert both.platforms == ("linux/amd64", "linux/arm64")
    assert both.media_type == DOCKER_MANIFEST_LIST
    entries = parse_index(both.manifest, "test")
    assert [(e.platform, e.variant, e.digest, e.size) for e in entries] == [
        (i.platform, i.variant, i.digest, len(i.manifest)) for i in both.images
    ]
    arm = config_of(both.images[1])
    assert (arm["architecture"], arm["variant"]) == ("arm64", "v8")
    assert contents(both.images[1].layers[0].data)["bin/busybox"] == ARM64
    with pytest.raises(SandboxError, match="amd64"):
        build_image("1.4.0", busyboxes={"arm64": ARM64})


def test_one_version_always_gives_the_same_digests() -> None:
    first, again = build_image("1.5.0", busyboxes=BOTH), build_image("1.5.0", busyboxes=BOTH)
    assert first == again and first.digest == again.digest
    for layer in first.images[0].layers:
        assert layer.data[4:8] == bytes(4), "a gzip timestamp"
    other = build_image("2.0.0", busyboxes=BOTH)
    assert other.digest != first.digest
    # Versions share the busybox layer: a registry stores it once per platform.
    assert other.images[0].layers[0] == first.images[0].layers[0]
    assert other.images[0].layers[1] != first.images[0].layers[1]


def test_only_a_static_busybox_of_the_arch_is_taken(tmp_path: Path) -> None:
    path = tmp_path / "busybox"
    path.write_bytes(AMD64)
    assert static_busybox(path, "amd64") == AMD64
    with pytest.raises(SandboxError, match="not a static arm64 busybox"):
        static_busybox(path, "arm64")
    path.write_bytes(elf(0x3E, PT_LOAD, PT_INTERP))
    with pytest.raises(SandboxError, match="not a static amd64 busybox"):
        static_busybox(path, "amd64")
    path.write_bytes(b"#!/bin/sh\n")
    with pytest.raises(SandboxError, match="not a static"):
        static_busybox(path, "amd64")
    with pytest.raises(SandboxError, match=r"scripts/setup\.sh"):
        static_busybox(tmp_path / "none", "amd64")
