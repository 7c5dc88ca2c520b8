"""The image a build host saved (``docker save``): read, checked, never unpacked.

The archive came from a build host, so it is read as untrusted: only the members its
``manifest.json`` names are read, each must be a regular file, the manifest and the
config are small JSON documents, and every layer must hash to the ``diff_id`` its config
declares. Nothing is written to disk here: the layers are read where they are, inside the
archive. Both layouts ``docker save`` writes are understood: Docker 20.10's (a directory
per layer) and the OCI layout of Docker 25 and later, which keeps a ``manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from orchestrator.errors import BuildError
from orchestrator.images.names import VERSION_LABEL

MAX_DOCUMENT = 1 << 20
MAX_LAYERS = 127
MAX_MEMBERS = 10_000
CHUNK = 1 << 20


@dataclass(frozen=True)
class Layer:
    """One layer: its member in the archive, its size and the digest of its tar."""

    member: str
    size: int
    diff_id: str


@dataclass(frozen=True)
class SavedImage:
    """An image as ``docker save`` wrote it, checked (see :func:`read_saved_image`)."""

    path: Path
    config: bytes
    layers: tuple[Layer, ...]
    architecture: str
    os: str
    labels: dict[str, str]

    @property
    def config_digest(self) -> str:
        """The image's id: the digest of its config."""
        return "sha256:" + hashlib.sha256(self.config).hexdigest()

    @contextmanager
    def layer(self, layer: Layer) -> Iterator[IO[bytes]]:
        """The layer's tar, read from the archive."""
        with tarfile.open(self.path, "r:") as archive:
            stream = archive.extractfile(layer.member)
            assert stream is not None  # checked to be a regular file when read
            yield stream


def _document(archive: tarfile.TarFile, member: tarfile.TarInfo | None, what: str) -> Any:
    if member is None or not member.isreg():
        raise BuildError(f"the saved image has no {what}")
    if member.size > MAX_DOCUMENT:
        raise BuildError(f"the saved image's {what} is larger than {MAX_DOCUMENT} bytes")
    stream = archive.extractfile(member)
    assert stream is not None
    data = stream.read()
    try:
        return data, json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise BuildError(f"the saved image's {what} is not JSON: {error}") from None


def _digest_of(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def read_saved_image(path: Path, where: str) -> SavedImage:
    """Read and check the one image saved in the archive at ``path``; BuildError if unsound.

    ``where`` names the build in errors.
    """
    try:
        return _read(path)
    except BuildError as error:
        raise BuildError(f"{where}: {error}") from None
    except (tarfile.TarError, OSError, EOFError) as error:
        raise BuildError(f"{where}: the saved image is unreadable: {error}") from None


def _read(path: Path) -> SavedImage:
    with tarfile.open(path, "r:") as archive:
        members: dict[str, tarfile.TarInfo] = {}
        for member in archive:
            if len(members) >= MAX_MEMBERS:
                raise BuildError(f"the saved image holds more than {MAX_MEMBERS} files")
            name = member.name.removeprefix("./")
            if name in members:
                raise BuildError(f"the saved image names {name!r} twice")
            members[name] = member
        _, manifest = _document(archive, members.get("manifest.json"), "manifest.json")
        if (
            not isinstance(manifest, list)
            or len(manifest) != 1
            or not isinstance(manifest[0], dict)
        ):
            raise BuildError("the saved image must hold exactly one image")
        entry = manifest[0]
        config_name, layer_names = entry.get("Config"), entry.get("Layers")
        if not isinstance(config_name, str) or not isinstance(layer_names, list):
            raise BuildError("the saved image's manifest.json lacks Config or Layers")
        config_bytes, config = _document(archive, members.get(config_name), "config")
        if not isinstance(config, dict):
            raise BuildError("the saved image's config is not a JSON object")
        diff_ids = (config.get("rootfs") or {}).get("diff_ids")
        if not isinstance(diff_ids, list) or len(diff_ids) != len(layer_names):
            raise BuildError("the saved image's config does not list one diff_id per layer")
        if not 1 <= len(layer_names) <= MAX_LAYERS:
            raise BuildError(f"the saved image must have 1 to {MAX_LAYERS} layers")
        layers = []
        for name, diff_id in zip(layer_names, diff_ids, strict=True):
            found = members.get(name) if isinstance(name, str) else None
            if found is None or not found.isreg():
                raise BuildError(f"the saved image's layer {str(name)[:80]!r} is not a file in it")
            stream = archive.extractfile(found)
            assert stream is not None
            if _digest_of(stream) != diff_id:
                raise BuildError(
                    f"the saved image's layer {name[:80]!r} does not match its diff_id"
                )
            layers.append(Layer(name, found.size, diff_id))
    inner = config.get("config") or {}
    labels = inner.get("Labels") if isinstance(inner, dict) else None
    return SavedImage(
        path=path,
        config=config_bytes,
        layers=tuple(layers),
        architecture=str(config.get("architecture", "")),
        os=str(config.get("os", "")),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
    )


def check_identity(image: SavedImage, *, version: str, arch: str, where: str) -> None:
    """BuildError unless the image is the release's: its version label, arch and OS."""
    shown = image.labels.get(VERSION_LABEL)
    if shown != version:
        raise BuildError(
            f"{where}: the image's {VERSION_LABEL} label is {shown!r}, not the release's {version!r}"
        )
    if (image.os, image.architecture) != ("linux", arch):
        raise BuildError(
            f"{where}: the image is {image.os}/{image.architecture}, not the target's linux/{arch}"
        )
