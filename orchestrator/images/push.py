"""Pushing saved images to a registry: each platform's by digest, then one index as the tag.

The orchestrator pushes, not the build host: the registry's credentials never reach a
droplet, and only an image that passed its checks is pushed, under the repository and
tag the inventory and the release decide. Layers are gzipped here (``mtime`` 0, so one
image always packs to the same blobs and the same manifest digest), uploaded unless the
registry has them, then the config, then the manifest by its digest; the index naming
every platform's manifest comes last, under the tag, in one PUT
(:mod:`orchestrator.images.index`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from orchestrator.errors import PublishError
from orchestrator.images.index import PlatformManifest, image_index
from orchestrator.images.registry import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    Registry,
)
from orchestrator.images.saved import SavedImage

GZIP_LEVEL = 6


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
    image: SavedImage, registry: Registry, repository: str, work: Path
) -> PlatformManifest:
    """Push ``image`` to ``repository`` by digest, under no tag; its entry for an index.

    Layers the registry lacks, then the config, then the manifest: a digest names one
    image forever, so nothing another run pushed can be in the way. ``work`` holds the
    packed layers meanwhile.
    """
    work.mkdir(parents=True, exist_ok=True)
    packed: list[tuple[Path, str, int]] = []
    try:
        for member in range(len(image.layers)):
            packed.append(_packed(image, member, work))
        for path, blob, _ in packed:
            if not registry.has_blob(repository, blob):
                registry.upload_blob(repository, blob, path)
    finally:
        for path, _, _ in packed:
            path.unlink(missing_ok=True)
    if not registry.has_blob(repository, image.config_digest):
        registry.upload_blob(repository, image.config_digest, image.config)
    manifest = image_manifest(image, [(digest, size) for _, digest, size in packed])
    return PlatformManifest(
        digest=registry.put_manifest(repository, None, manifest, DOCKER_MANIFEST),
        size=len(manifest),
        media_type=DOCKER_MANIFEST,
        os=image.os,
        architecture=image.architecture,
        variant=image.variant,
    )


def push_index(
    registry: Registry,
    repository: str,
    tag: str,
    manifests: Sequence[PlatformManifest],
    *,
    may_replace: Callable[[str], bool] = lambda _digest: False,
) -> str:
    """Push the index of ``manifests`` (each pushed by digest already) as ``repository:tag``.

    Its digest. A tag that names something else already is left alone (PublishError)
    unless ``may_replace`` says yes for that digest: a version is published once, but a
    run that died after its push and before it published anything leaves a tag the next
    run may take over.
    """
    index = image_index(manifests)
    digest = "sha256:" + hashlib.sha256(index).hexdigest()
    present = registry.manifest(repository, tag)
    if present is not None and present.digest != digest and not may_replace(present.digest):
        raise PublishError(
            f"{registry.where} has {repository}:{tag} as another image or index "
            f"({present.digest}); a version is pushed once: release a new version instead"
        )
    return registry.put_manifest(repository, tag, index, DOCKER_MANIFEST_LIST)


def tag_image(registry: Registry, repository: str, digest: str, tags: list[str]) -> None:
    """Point each of ``tags`` at the index or image ``digest`` (stored again under each name)."""
    manifest = registry.manifest(repository, digest)
    if manifest is None:
        raise PublishError(f"{registry.where} has no {repository}@{digest} to tag")
    for tag in tags:
        registry.put_manifest(repository, tag, manifest.body, manifest.media_type)
