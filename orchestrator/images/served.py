"""What a registry serves under a tag, read back: one image, or an index of one per platform.

Everything is read as untrusted (bounded by :class:`~orchestrator.images.registry.Registry`,
every manifest and config checked against its digest): an index is read with
:func:`~orchestrator.images.index.parse_index`, then each platform's manifest, which
must be the size the index says, and its config, which must say the platform the index
says. Anything else is a PublishError naming the tag, never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import PublishError
from orchestrator.images.index import SINGLE_IMAGES, parse_index
from orchestrator.images.names import DIGEST, VERSION_LABEL
from orchestrator.images.registry import DOCKER_MANIFEST_LIST, OCI_INDEX, Manifest, Registry


@dataclass(frozen=True)
class ServedImage:
    """One image the registry serves: its manifest digest and the image's identity."""

    digest: str
    labels: dict[str, str]
    architecture: str
    os: str
    # The config's digest: the image id Docker's own image store reports.
    image_id: str = ""
    # The index that names it, when the tag is an index.
    index: str = ""

    @property
    def version(self) -> str | None:
        """The image's version label."""
        return self.labels.get(VERSION_LABEL)

    @property
    def platform(self) -> str:
        """``os/architecture``, from its config."""
        return f"{self.os}/{self.architecture}"

    @property
    def ids(self) -> tuple[str, ...]:
        """What a host's Docker may call the image once pulled by its tag.

        Docker's own image store: the config's digest; the containerd image store: the
        digest of what the tag names (the index, or the manifest of a tag without one).
        """
        return (self.image_id, self.digest, *((self.index,) if self.index else ()))


@dataclass(frozen=True)
class ServedTag:
    """What a tag names: one image, or an index of one image per platform."""

    digest: str
    images: tuple[ServedImage, ...]
    index: bool = False

    @property
    def platforms(self) -> tuple[str, ...]:
        """The platforms served, in the index's order."""
        return tuple(image.platform for image in self.images)

    def image_for(self, platform: str) -> ServedImage | None:
        """The image a host of ``platform`` (``linux/arm64``) pulls; None if there is none."""
        return next((image for image in self.images if image.platform == platform), None)


def _shown(repository: str, reference: str) -> str:
    return (
        f"{repository}@{reference}" if DIGEST.fullmatch(reference) else f"{repository}:{reference}"
    )


def _image(
    registry: Registry, repository: str, manifest: Manifest, where: str, index: str
) -> ServedImage:
    if manifest.media_type not in SINGLE_IMAGES:
        raise PublishError(
            f"{where} is a {manifest.media_type[:80] or 'manifest'}, not a single image"
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
            index=index,
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise PublishError(
            f"{where} has an unreadable manifest or config ({error.__class__.__name__})"
        ) from None


def served_tag(registry: Registry, repository: str, reference: str) -> ServedTag | None:
    """What the registry serves as ``repository:reference`` (None if nothing), read back."""
    manifest = registry.manifest(repository, reference)
    if manifest is None:
        return None
    where = f"{registry.where}: {_shown(repository, reference)}"
    if manifest.media_type not in (DOCKER_MANIFEST_LIST, OCI_INDEX):
        return ServedTag(manifest.digest, (_image(registry, repository, manifest, where, ""),))
    images = []
    for entry in parse_index(manifest.body, where):
        platform = f"{where} ({entry.platform})"
        found = registry.manifest(repository, entry.digest)
        if found is None:
            raise PublishError(f"{platform}: the registry has no {entry.digest} its index names")
        if len(found.body) != entry.size:
            raise PublishError(f"{platform}: the manifest is not the size its index says")
        image = _image(registry, repository, found, platform, manifest.digest)
        if image.platform != entry.platform:
            raise PublishError(
                f"{platform}: the image's config says {image.platform[:80]}, not the index's "
                f"{entry.platform}"
            )
        images.append(image)
    return ServedTag(manifest.digest, tuple(images), index=True)
