"""The sandbox's third-party image, ``cache``, built as an outside publisher would: no Docker.

Each image is made here, in Python, from files alone: a static busybox as ``/bin/busybox``
(one layer, the same for every version) and ``/www/health`` holding ``cache VERSION``
(a second, tiny layer; left out of an unhealthy build, whose ``/www`` is empty). Its
entrypoint serves ``/www`` with busybox's httpd on port :data:`PORT` of the address in
``/etc/listen-address`` (127.0.0.1 without it), as the example's ``hello`` image does on
8080: the sandbox's Compose servers mount that file into containers on the host network.

Platforms: ``linux/amd64`` always, from this machine's Debian ``busybox-static``; and
``linux/arm64`` (variant v8) when the aarch64 busybox ``scripts/busybox-arm64.sh`` installs
is present at :data:`ARM64_BUSYBOX`. With both, a version is a Docker manifest list (an
image index) of two Docker v2 images; with amd64 only, it is that single image. About
1 MiB of gzipped layer per platform.

Unlike a release of ours, an image has no ``org.opencontainers.image.version`` label: a
deploy must take images it did not build without one. Everything is fixed (mtimes 0,
uid/gid 0, entry order, gzip without a timestamp), so one version on one machine always
gives the same digests and pushing it again changes nothing.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import shutil
import struct
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import SandboxError
from orchestrator.images.index import PlatformManifest, image_index
from orchestrator.images.names import TITLE_LABEL
from orchestrator.images.registry import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
)

NAME = "cache"
PORT = 8081
HEALTH_PATH = "www/health"
LISTEN_ADDRESS = "/etc/listen-address"
ENTRYPOINT = (
    "/bin/busybox",
    "sh",
    "-c",
    "exec /bin/busybox httpd -f -h /www -p "
    f'"$(/bin/busybox cat {LISTEN_ADDRESS} 2>/dev/null || echo 127.0.0.1):{PORT}"',
)
# What Docker gives an image FROM scratch.
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CREATED = "1970-01-01T00:00:00Z"
GZIP_LEVEL = 6
ARM64_BUSYBOX = Path("/usr/local/lib/relorch/busybox-arm64")
# ELF machine numbers (bytes 18-19 of the header), by Docker architecture.
_ELF_MACHINES = {"amd64": 0x3E, "arm64": 0xB7}
_VARIANTS = {"arm64": "v8"}
_PT_INTERP = 3


@dataclass(frozen=True)
class Blob:
    """One blob of an image (a gzipped layer or a config) with its media type."""

    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        """``sha256:HEX`` of the bytes."""
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self) -> dict[str, Any]:
        """How a manifest names it."""
        return {"mediaType": self.media_type, "size": len(self.data), "digest": self.digest}


@dataclass(frozen=True)
class PlatformImage:
    """One platform's image: its config, its gzipped layers and its Docker v2 manifest."""

    architecture: str
    variant: str
    config: Blob
    layers: tuple[Blob, ...]
    manifest: bytes

    @property
    def digest(self) -> str:
        """The manifest's digest."""
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()

    @property
    def platform(self) -> str:
        """``linux/ARCH``."""
        return f"linux/{self.architecture}"

    def entry(self) -> PlatformManifest:
        """Its entry in an image index."""
        return PlatformManifest(
            digest=self.digest,
            size=len(self.manifest),
            media_type=DOCKER_MANIFEST,
            os="linux",
            architecture=self.architecture,
            variant=self.variant,
        )


@dataclass(frozen=True)
class VendorImage:
    """One version of ``cache``: an image per platform, and what its tag names."""

    version: str
    healthy: bool
    images: tuple[PlatformImage, ...]

    @property
    def manifest(self) -> bytes:
        """What a tag names: the index of every platform, or the one image's manifest."""
        if len(self.images) == 1:
            return self.images[0].manifest
        return image_index([image.entry() for image in self.images])

    @property
    def media_type(self) -> str:
        """The media type of :attr:`manifest`."""
        return DOCKER_MANIFEST if len(self.images) == 1 else DOCKER_MANIFEST_LIST

    @property
    def digest(self) -> str:
        """The digest a tag of this version names."""
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()

    @property
    def platforms(self) -> tuple[str, ...]:
        """``linux/amd64`` and, with the aarch64 busybox, ``linux/arm64``."""
        return tuple(image.platform for image in self.images)


def health_text(version: str) -> str:
    """What ``GET /health`` answers."""
    return f"{NAME} {version}\n"


def static_busybox(path: Path, arch: str) -> bytes:
    """The bytes of the static busybox at ``path`` for ``arch``; SandboxError if it is not one."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SandboxError(
            f"no static busybox for {arch} at {path} ({error.strerror}): run scripts/setup.sh"
        ) from None
    if not _is_static_elf(data, _ELF_MACHINES[arch]):
        raise SandboxError(
            f"{path} is not a static {arch} busybox (a 64-bit little-endian ELF executable "
            "without an interpreter): install Debian's busybox-static (scripts/setup.sh)"
        )
    return data


def _is_static_elf(data: bytes, machine: int) -> bool:
    """Whether ``data`` is a 64-bit little-endian ELF for ``machine`` with no PT_INTERP."""
    if len(data) < 64 or data[:6] != b"\x7fELF\x02\x01":
        return False
    (found,) = struct.unpack_from("<H", data, 18)
    (offset,) = struct.unpack_from("<Q", data, 0x20)
    size, count = struct.unpack_from("<HH", data, 0x36)
    if found != machine or size < 4 or offset + size * count > len(data):
        return False
    return all(
        struct.unpack_from("<I", data, offset + n * size)[0] != _PT_INTERP for n in range(count)
    )


def machine_busyboxes() -> dict[str, bytes]:
    """The machine's static busyboxes by architecture: amd64 always, arm64 if installed."""
    found = shutil.which("busybox") or "/bin/busybox"
    busyboxes = {"amd64": static_busybox(Path(found), "amd64")}
    if ARM64_BUSYBOX.is_file():
        busyboxes["arm64"] = static_busybox(ARM64_BUSYBOX, "arm64")
    return busyboxes


def _tar(entries: list[tuple[str, int, bytes | None]]) -> bytes:
    """A tar of ``(name, mode, data)`` entries, in that order; ``None`` data is a directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, mode, data in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.mtime, info.uid, info.gid = mode, 0, 0, 0
            info.uname = info.gname = "root"
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _layer(entries: list[tuple[str, int, bytes | None]]) -> tuple[Blob, str]:
    """A gzipped layer of ``entries`` and its diff_id (the digest of the plain tar)."""
    plain = _tar(entries)
    packed = gzip.compress(plain, compresslevel=GZIP_LEVEL, mtime=0)
    return Blob(DOCKER_LAYER, packed), "sha256:" + hashlib.sha256(plain).hexdigest()


@functools.lru_cache(maxsize=4)
def _busybox_layer(busybox: bytes) -> tuple[Blob, str]:
    # The same for every version: built once per process, uploaded once per registry.
    return _layer([("bin/", 0o755, None), ("bin/busybox", 0o755, busybox)])


def _www_layer(version: str, healthy: bool) -> tuple[Blob, str]:
    entries: list[tuple[str, int, bytes | None]] = [("www/", 0o755, None)]
    if healthy:
        entries.append((HEALTH_PATH, 0o644, health_text(version).encode()))
    return _layer(entries)


def image_config(arch: str, diff_ids: list[str]) -> bytes:
    """The image's config: its platform, entrypoint and layers, and no version label."""
    document: dict[str, Any] = {
        "architecture": arch,
        "os": "linux",
        **({"variant": _VARIANTS[arch]} if arch in _VARIANTS else {}),
        "created": CREATED,
        "config": {
            "Env": [PATH_ENV],
            "Entrypoint": list(ENTRYPOINT),
            "ExposedPorts": {f"{PORT}/tcp": {}},
            "Labels": {TITLE_LABEL: NAME},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    return json.dumps(document, indent=2, sort_keys=True).encode()


def platform_image(
    version: str, arch: str, busybox: bytes, *, healthy: bool = True
) -> PlatformImage:
    """The image of ``version`` for ``linux/ARCH`` with this static ``busybox`` of that arch."""
    layers = [_busybox_layer(busybox), _www_layer(version, healthy)]
    config = Blob(DOCKER_CONFIG, image_config(arch, [diff_id for _, diff_id in layers]))
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": config.descriptor(),
        "layers": [blob.descriptor() for blob, _ in layers],
    }
    return PlatformImage(
        architecture=arch,
        variant=_VARIANTS.get(arch, ""),
        config=config,
        layers=tuple(blob for blob, _ in layers),
        manifest=json.dumps(manifest, indent=3).encode(),
    )


def build_image(
    version: str, *, healthy: bool = True, busyboxes: Mapping[str, bytes] | None = None
) -> VendorImage:
    """``cache`` at ``version`` for every platform ``busyboxes`` has (default: this machine's).

    ``healthy=False`` leaves out ``/www/health``: the container runs, its check fails.
    """
    found = machine_busyboxes() if busyboxes is None else dict(busyboxes)
    if "amd64" not in found:
        raise SandboxError("the cache image needs an amd64 busybox")
    images = tuple(
        platform_image(version, arch, found[arch], healthy=healthy)
        for arch in ("amd64", "arm64")
        if arch in found
    )
    return VendorImage(version, healthy, images)
