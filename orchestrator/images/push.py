"""Pushing a saved image to a registry, and reading back what the registry serves.

The orchestrator pushes, not the build host: the registry's credentials never reach a
droplet, and only an image that passed its checks is pushed, under the repository and
tag the inventory and the release decide. Layers are gzipped here (``mtime`` 0, so one
image always packs to the same blobs and the same manifest digest), uploaded unless the
registry has them, then the config, then the manifest: the tag appears last, in one PUT.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import PublishError
from orchestrator.images.names import VERSION_LABEL
from orchestrator.images.registry import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    Registry,
)
from orchestrator.images.saved import SavedImage

GZIP_LEVEL = 6


@dataclass(frozen=True)
class ServedImage:
    """What the registry serves under a tag: the manifest digest and the image's identity."""

    digest: str
    labels: dict[str, str]
    architecture: str
    os: str
    # The config's digest: the image id ``docker inspect`` reports.
    image_id: str = ""

    @property
    def version(self) -> str | None:
        """The image's version label."""
        return self.labels.get(VERSION_LABEL)

    @property
    def ids(self) -> tuple[str, ...]:
        """What a host's Docker may call the image: the config's digest, or the manifest's."""
        return (self.image_id, self.digest)


def _packed(image: SavedImage, member: int, work: Path) -> tuple[Path, str, int]:
    layer = image.layers[member]
    target = work / f"layer-{member}.tar.gz"
    with (
        image.layer(layer) as source,
        target.open("wb") as sink,
        gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as packed,
    ):
        shutil.copyfileobj(source, packed, 1 << 20)
    with target.open("rb") as packed_file:
        digest = "sha256:" + hashlib.file_digest(packed_file, "sha256").hexdigest()
    return target, digest, target.stat().st_size


def image_manifest(image: SavedImage, layers: list[tuple[str, int]]) -> bytes:
    """The Docker v2 manifest of ``image`` whose gzipped layers have these digests and sizes."""
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {
            "mediaType": DOCKER_CONFIG,
            "size": len(image.config),
            "digest": image.config_digest,
        },
        "layers": [
            {"mediaType": DOCKER_LAYER, "size": size, "digest": digest} for digest, size in layers
        ],
    }
    return json.dumps(document, indent=3).encode("utf-8")


def push_image(
    image: SavedImage,
    registry: Registry,
    repository: str,
    tag: str,
    work: Path,
    *,
    may_replace: Callable[[str], bool] = lambda _digest: False,
) -> str:
    """Push ``image`` as ``repository:tag``; the manifest digest.

    A tag that names another image already is left alone (PublishError) unless
    ``may_replace`` says yes for that image's digest: a version is published once, but a
    run that died after its push and before it published anything leaves a tag the next
    run may take over. ``work`` holds the packed layers meanwhile.
    """
    work.mkdir(parents=True, exist_ok=True)
    packed: list[tuple[Path, str, int]] = []
    try:
        for member in range(len(image.layers)):
            packed.append(_packed(image, member, work))
        manifest = image_manifest(image, [(digest, size) for _, digest, size in packed])
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        # Before any upload: a tag that names another image stays as it is.
        present = registry.manifest(repository, tag)
        if present is not None and present.digest != digest and not may_replace(present.digest):
            raise PublishError(
                f"{registry.where} has {repository}:{tag} as another image ({present.digest}); "
                "a version is pushed once: release a new version instead"
            )
        for path, blob, _ in packed:
            if not registry.has_blob(repository, blob):
                registry.upload_blob(repository, blob, path)
    finally:
        for path, _, _ in packed:
            path.unlink(missing_ok=True)
    if not registry.has_blob(repository, image.config_digest):
        registry.upload_blob(repository, image.config_digest, image.config)
    return registry.put_manifest(repository, tag, manifest, DOCKER_MANIFEST)


def served_image(registry: Registry, repository: str, reference: str) -> ServedImage | None:
    """What the registry serves as ``repository:reference`` (None if nothing), read back."""
    manifest = registry.manifest(repository, reference)
    if manifest is None:
        return None
    if manifest.media_type not in (DOCKER_MANIFEST, OCI_MANIFEST):
        raise PublishError(
            f"{registry.where}: {repository}:{reference} is a {manifest.media_type or 'manifest'}, "
            "not a single image"
        )
    try:
        descriptor = json.loads(manifest.body)["config"]
        config: Any = json.loads(registry.blob(repository, str(descriptor["digest"])))
        inner = config.get("config") or {}
        labels = inner.get("Labels") or {}
        return ServedImage(
            digest=manifest.digest,
            labels={str(k): str(v) for k, v in labels.items()},
            architecture=str(config.get("architecture", "")),
            os=str(config.get("os", "")),
            image_id=str(descriptor["digest"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise PublishError(
            f"{registry.where}: {repository}:{reference} has an unreadable manifest or config "
            f"({error.__class__.__name__})"
        ) from None


def tag_image(registry: Registry, repository: str, digest: str, tags: list[str]) -> None:
    """Point each of ``tags`` at the image ``digest`` (its manifest stored under each name)."""
    manifest = registry.manifest(repository, digest)
    if manifest is None:
        raise PublishError(f"{registry.where} has no {repository}@{digest} to tag")
    for tag in tags:
        registry.put_manifest(repository, tag, manifest.body, manifest.media_type)
