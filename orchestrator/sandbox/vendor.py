"""The outside publisher of the sandbox's third-party image: ``vendor/cache`` on its registry.

Not a release of ours: the images are built by :mod:`orchestrator.sandbox.vendorimage` and
pushed over the Registry HTTP API with the sandbox registry's orchestrator login, as a
vendor's CI would push to its own registry. :func:`ensure_cache` runs whenever the sandbox
ensures its registry (:func:`orchestrator.sandbox.control.ensure_registry`, so
``sandbox.up`` and every task that uses the registry): it pushes the tags
:data:`VERSIONS` and ``latest`` (naming what ``2.0.0`` names) that are missing, and
leaves a tag that is there alone, whatever it names, as a registry leaves what its
publisher pushed: a test that moved a tag (:func:`push_cache`) keeps it moved. When
every tag is there (the registry's storage survives a restart) that is one tag list, and
nothing is built or uploaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from orchestrator.images.registry import DOCKER_MANIFEST, Credentials, Registry
from orchestrator.sandbox.registry import RegistryAccess
from orchestrator.sandbox.vendorimage import VendorImage, build_image

REPOSITORY = "vendor/cache"
VERSIONS = ("1.4.0", "1.5.0", "2.0.0")
LATEST = "latest"
# The version ``latest`` names.
NEWEST = "2.0.0"
TAGS = (*VERSIONS, LATEST)


def registry_of(access: RegistryAccess) -> Registry:
    """A client of the sandbox registry, logged in as ``access`` says."""
    return Registry(access.url, Credentials(access.username, access.password))


def push_image(registry: Registry, image: VendorImage, tags: Sequence[str]) -> str:
    """Push ``image`` (blobs the registry lacks, each platform by digest) under ``tags``.

    The digest the tags name.
    """
    for platform in image.images:
        for blob in (*platform.layers, platform.config):
            if not registry.has_blob(REPOSITORY, blob.digest):
                registry.upload_blob(REPOSITORY, blob.digest, blob.data)
        if len(image.images) > 1:
            registry.put_manifest(REPOSITORY, None, platform.manifest, DOCKER_MANIFEST)
    for tag in tags:
        registry.put_manifest(REPOSITORY, tag, image.manifest, image.media_type)
    return image.digest


def push_cache(
    access: RegistryAccess,
    version: str,
    *,
    healthy: bool = True,
    tags: Sequence[str] | None = None,
) -> str:
    """Publish ``cache`` at ``version`` as ``vendor/cache:VERSION`` (or under ``tags``).

    Its digest. ``healthy=False`` publishes an image without ``/www/health`` (its
    container runs; its health check fails); ``tags`` moves other tags, such as
    ``latest`` or an existing version, to this image, as a publisher pushing over a tag
    does.
    """
    image = build_image(version, healthy=healthy)
    return push_image(registry_of(access), image, (version,) if tags is None else tags)


def ensure_cache(access: RegistryAccess) -> tuple[str, ...]:
    """Push whichever of :data:`TAGS` the registry lacks; the tags pushed (none: nothing sent).

    One tag list when all are there; a tag that names another image is left as it is.
    """
    return ensure_tags(registry_of(access))


def ensure_tags(
    registry: Registry, build: Callable[[str], VendorImage] = build_image
) -> tuple[str, ...]:
    """:func:`ensure_cache` on ``registry``, each missing version made by ``build``."""
    present = set(registry.tags(REPOSITORY))
    pushed: list[str] = []
    for version in VERSIONS:
        tags = [version] if version not in present else []
        if version == NEWEST and LATEST not in present:
            tags.append(LATEST)
        if tags:
            push_image(registry, build(version), tags)
            pushed += tags
    return tuple(pushed)
