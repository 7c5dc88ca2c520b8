"""The publisher of ``vendor/cache`` against an in-memory registry: only missing tags are pushed.

A first ensure pushes every tag (``latest`` naming ``2.0.0``'s digest), each blob once; a
second sends nothing; a tag moved by the publisher stays moved, and a deleted one is
pushed again without its blobs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from orchestrator.images.registry import Manifest, Registry
from orchestrator.sandbox import vendor
from orchestrator.sandbox.vendorimage import VendorImage, build_image
from tests.unit.sandbox.test_vendor_image import BOTH


class MemoryRegistry(Registry):
    """A registry in memory that counts what is sent to it."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:5000", None)
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[bytes, str]] = {}
        self.named: dict[str, str] = {}
        self.uploads = 0
        self.puts = 0

    def has_blob(self, repository: str, digest: str) -> bool:
        return digest in self.blobs

    def upload_blob(self, repository: str, digest: str, source: Path | bytes) -> None:
        assert isinstance(source, bytes) and hashlib.sha256(source).hexdigest() == digest[7:]
        self.uploads += 1
        self.blobs[digest] = source

    def put_manifest(self, repository: str, tag: str | None, body: bytes, media_type: str) -> str:
        assert repository == vendor.REPOSITORY
        self.puts += 1
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.manifests[digest] = (body, media_type)
        if tag is not None:
            self.named[tag] = digest
        return digest

    def manifest(self, repository: str, reference: str) -> Manifest | None:
        digest = self.named.get(reference, reference)
        found = self.manifests.get(digest)
        return None if found is None else Manifest(found[0], found[1], digest)

    def tags(self, repository: str) -> list[str]:
        return sorted(self.named)


def build(version: str) -> VendorImage:
    return build_image(version, busyboxes=BOTH)


def test_the_publisher_pushes_every_tag_once_then_nothing() -> None:
    registry = MemoryRegistry()
    assert vendor.ensure_tags(registry, build) == ("1.4.0", "1.5.0", "2.0.0", "latest")
    assert set(registry.tags(vendor.REPOSITORY)) == set(vendor.TAGS)
    assert registry.named["latest"] == registry.named["2.0.0"] == build("2.0.0").digest
    # A busybox layer per platform, a www layer per version (the same for both platforms),
    # a config per image.
    assert registry.uploads == 2 + 3 + 3 * 2
    for blob in (b for i in build("1.5.0").images for b in (*i.layers, i.config)):
        assert blob.digest in registry.blobs
    uploads, puts = registry.uploads, registry.puts
    assert vendor.ensure_tags(registry, build) == ()
    assert (registry.uploads, registry.puts) == (uploads, puts)


def test_the_publisher_pushes_a_missing_tag_and_leaves_a_moved_one() -> None:
    registry = MemoryRegistry()
    vendor.ensure_tags(registry, build)
    broken = build_image("1.5.1", healthy=False, busyboxes=BOTH)
    moved = vendor.push_image(registry, broken, ["1.5.1", "latest"])
    assert registry.named["latest"] == registry.named["1.5.1"] == moved == broken.digest
    del registry.named["1.4.0"]
    uploads = registry.uploads
    assert vendor.ensure_tags(registry, build) == ("1.4.0",)
    assert registry.named["latest"] == moved
    assert registry.named["1.4.0"] == build("1.4.0").digest
    assert registry.uploads == uploads  # its blobs were there
