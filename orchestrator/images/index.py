"""An image index: one tag naming one image per platform; written and read, pure.

A release pushes each platform's image by digest, then the index under the version tag,
so the tag appears last and names every platform at once. It writes a Docker manifest
list, the index type made for the Docker v2 manifests it pushes (Docker's own client
writes the same pair); it reads an OCI image index too. What a registry serves is
untrusted: an index is read only if it is small JSON naming, by digest and size, at most
:data:`MAX_PLATFORMS` single images, each for a platform no other entry names. An index
of indexes is not followed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import PublishError
from orchestrator.images.names import DIGEST
from orchestrator.images.registry import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST

MAX_PLATFORMS = 64
SINGLE_IMAGES = (DOCKER_MANIFEST, OCI_MANIFEST)


@dataclass(frozen=True)
class PlatformManifest:
    """One platform's image manifest as an index names it."""

    digest: str
    size: int
    media_type: str
    os: str
    architecture: str
    # arm64 images may say v8; the platform is the same without it.
    variant: str = ""

    @property
    def platform(self) -> str:
        """``os/architecture``, as a target's is written (``linux/arm64``)."""
        return f"{self.os}/{self.architecture}"


def image_index(manifests: Sequence[PlatformManifest]) -> bytes:
    """The manifest list naming ``manifests`` (one per platform), in their order."""
    entries = []
    for manifest in manifests:
        platform = {"os": manifest.os, "architecture": manifest.architecture}
        if manifest.variant:
            platform["variant"] = manifest.variant
        entries.append(
            {
                "mediaType": manifest.media_type,
                "size": manifest.size,
                "digest": manifest.digest,
                "platform": platform,
            }
        )
    document = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": entries}
    return json.dumps(document, indent=3).encode("utf-8")


def _entry(entry: Any, number: int, where: str) -> PlatformManifest:
    try:
        platform = entry["platform"]
        found = PlatformManifest(
            digest=entry["digest"],
            size=entry["size"],
            media_type=entry["mediaType"],
            os=platform["os"],
            architecture=platform["architecture"],
            variant=platform.get("variant", ""),
        )
    except (TypeError, KeyError, AttributeError):
        found = None
    if (
        found is None
        or not all(isinstance(v, str) for v in (found.media_type, found.os, found.architecture))
        or not isinstance(found.variant, str)
        or not DIGEST.fullmatch(str(found.digest))
        or type(found.size) is not int
        or found.size < 0
    ):
        raise PublishError(
            f"{where}: its manifests[{number}] is not a digest, size, media type and platform"
        )
    if found.media_type not in SINGLE_IMAGES:
        raise PublishError(
            f"{where}: its manifests[{number}] is a {found.media_type[:80]!r}, not a single image"
        )
    return found


def parse_index(body: bytes, where: str) -> tuple[PlatformManifest, ...]:
    """The platforms' manifests an index names, in its order; PublishError if it is unsound.

    ``where`` names the index in errors (``registry HOST: REPOSITORY:TAG``).
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise PublishError(f"{where}: its index is not JSON") from None
    if not isinstance(document, dict) or document.get("schemaVersion") != 2:
        raise PublishError(f"{where}: its index lacks schemaVersion 2")
    entries = document.get("manifests")
    if not isinstance(entries, list):
        raise PublishError(f"{where}: its index has no list of manifests")
    if not entries:
        raise PublishError(f"{where}: its index names no platform")
    if len(entries) > MAX_PLATFORMS:
        raise PublishError(f"{where}: its index names more than {MAX_PLATFORMS} manifests")
    manifests = tuple(_entry(entry, number, where) for number, entry in enumerate(entries))
    platforms = [manifest.platform for manifest in manifests]
    for platform in platforms:
        if platforms.count(platform) > 1:
            # Which one a host pulls would be the registry's choice, not the release's.
            raise PublishError(f"{where}: its index names {platform[:80]} twice")
    return manifests


def platform_mismatch(found: Sequence[str], wanted: Sequence[str]) -> str | None:
    """What differs between the platforms ``found`` and those the targets build; None if none."""
    lacking = [platform for platform in wanted if platform not in found]
    extra = [platform for platform in found if platform not in wanted]
    if not lacking and not extra:
        return None
    reasons = []
    if lacking:
        reasons.append(f"it lacks {', '.join(lacking)}")
    if extra:
        reasons.append(f"no target builds {', '.join(p[:80] for p in extra)}")
    return (
        f"it has {', '.join(sorted(p[:80] for p in found))}, and the image targets build "
        f"{', '.join(wanted)} ({'; '.join(reasons)})"
    )
