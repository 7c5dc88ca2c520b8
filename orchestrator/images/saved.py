"""The image a build host saved (``docker save``): read, checked, never unpacked.

The archive came from a build host, so it is read as untrusted. Before ``tarfile`` sees
it, its headers are walked once: no extended header may be large (``tarfile`` would hold
it in memory) and no member sparse (one could claim any size while the archive stays
small). Then only the members its ``manifest.json`` names are read: each a regular file
under its one canonical name, the manifest and the config small JSON documents whose keys
are not repeated even ignoring case (Docker's Go reads ``Labels`` and ``labels`` as one,
and keeps the last), each layer named once, all layers together within the target's
limit, and every layer hashing to the ``diff_id`` its config declares. Nothing is written
to disk: the layers are read where they are, inside the archive. Both layouts ``docker
save`` writes are understood: Docker 20.10's (a directory per layer) and the OCI layout
of Docker 25 and later, which keeps a ``manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
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
# A PAX or GNU long-name header: a path or a few attributes, never more.
MAX_EXTENDED_HEADER = 64 << 10
CHUNK = 1 << 20
BLOCK = 512
_EXTENDED = (b"x", b"g", b"L", b"K")


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
    # The config's platform variant (arm64's v8), if it names one.
    variant: str = ""

    @property
    def config_digest(self) -> str:
        """The image's id: the digest of its config."""
        return "sha256:" + hashlib.sha256(self.config).hexdigest()

    @contextmanager
    def layer(self, layer: Layer) -> Iterator[IO[bytes]]:
        """The layer's tar, read from the archive (its name is the only one of its kind)."""
        with tarfile.open(self.path, "r:") as archive:
            stream = archive.extractfile(layer.member)
            assert stream is not None  # checked to be a regular file when read
            yield stream


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen = set()
    for key, _ in pairs:
        folded = key.casefold()
        if folded in seen:
            raise BuildError(f"the key {key[:40]!r} appears twice (ignoring case)")
        seen.add(folded)
    return dict(pairs)


def _document(archive: tarfile.TarFile, member: tarfile.TarInfo | None, what: str) -> Any:
    if member is None or not member.isreg():
        raise BuildError(f"the saved image has no {what}")
    if member.size > MAX_DOCUMENT:
        raise BuildError(f"the saved image's {what} is larger than {MAX_DOCUMENT} bytes")
    stream = archive.extractfile(member)
    assert stream is not None
    data = stream.read()
    try:
        return data, json.loads(data, object_pairs_hook=_no_repeated_keys)
    except BuildError as error:
        raise BuildError(f"the saved image's {what}: {error}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise BuildError(f"the saved image's {what} is not JSON: {error}") from None


def _digest_of(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def read_saved_image(path: Path, where: str, *, max_bytes: int) -> SavedImage:
    """Read and check the one image saved in the archive at ``path``; BuildError if unsound.

    Its layers may hold ``max_bytes`` together; ``where`` names the build in errors.
    """
    try:
        _check_headers(path)
        return _read(path, max_bytes)
    except BuildError as error:
        raise BuildError(f"{where}: {error}") from None
    except (tarfile.TarError, OSError, EOFError) as error:
        raise BuildError(f"{where}: the saved image is unreadable: {error}") from None


def _check_headers(path: Path) -> None:
    """Walk the tar headers: no large extended header, no sparse member (see the module)."""
    with path.open("rb") as stream:
        while header := stream.read(BLOCK):
            if len(header) < BLOCK or header == b"\0" * BLOCK:
                return
            kind = header[156:157]
            field = header[124:136]
            try:
                # Past 8 GiB, a size is base-256: a leading byte with its high bit set.
                size = (
                    int.from_bytes(field[1:], "big")
                    if field[0] & 0x80
                    else int(field.strip(b"\0 ") or b"0", 8)
                )
            except ValueError:
                raise BuildError("the saved image has a header tarfile cannot read") from None
            if kind == b"S":
                raise BuildError("the saved image holds a sparse member")
            if kind in _EXTENDED:
                if size > MAX_EXTENDED_HEADER:
                    raise BuildError(
                        f"the saved image has an extended header of {size} bytes "
                        f"(at most {MAX_EXTENDED_HEADER})"
                    )
                if b"GNU.sparse" in stream.read(size):
                    raise BuildError("the saved image holds a sparse member")
                stream.seek(-size, 1)
            stream.seek((size + BLOCK - 1) // BLOCK * BLOCK, 1)


def _canonical(name: str) -> bool:
    return bool(name) and posixpath.normpath(name) == name and not name.startswith(("/", ".."))


def _read(path: Path, max_bytes: int) -> SavedImage:
    with tarfile.open(path, "r:") as archive:
        members = _members(archive)
        config_name, layer_names = _manifest(archive, members)
        config_bytes, config = _document(archive, members.get(config_name), "config")
        diff_ids = _diff_ids(config, layer_names)
        _check_layer_names(layer_names)
        found = _layer_members(members, layer_names, max_bytes)
        layers = tuple(
            _checked_layer(archive, name, diff_id, member)
            for name, diff_id, member in zip(layer_names, diff_ids, found, strict=True)
        )
    return SavedImage(
        path=path,
        config=config_bytes,
        layers=layers,
        architecture=str(config.get("architecture", "")),
        os=str(config.get("os", "")),
        labels=_labels(config),
        variant=str(config.get("variant", "")),
    )


def _members(archive: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """Every member by name: few, none sparse, each under one canonical name."""
    members: dict[str, tarfile.TarInfo] = {}
    for member in archive:
        if len(members) >= MAX_MEMBERS:
            raise BuildError(f"the saved image holds more than {MAX_MEMBERS} files")
        if member.sparse is not None:
            raise BuildError("the saved image holds a sparse member")
        name = member.name
        if not _canonical(name):
            raise BuildError(f"the saved image names a member {name[:80]!r}")
        if name in members:
            raise BuildError(f"the saved image names {name[:80]!r} twice")
        members[name] = member
    return members


def _manifest(
    archive: tarfile.TarFile, members: dict[str, tarfile.TarInfo]
) -> tuple[str, list[Any]]:
    """The one image's config name and layer names, as its ``manifest.json`` lists them."""
    _, manifest = _document(archive, members.get("manifest.json"), "manifest.json")
    if not isinstance(manifest, list) or len(manifest) != 1 or not isinstance(manifest[0], dict):
        raise BuildError("the saved image must hold exactly one image")
    config_name, layer_names = manifest[0].get("Config"), manifest[0].get("Layers")
    if not isinstance(config_name, str) or not isinstance(layer_names, list):
        raise BuildError("the saved image's manifest.json lacks Config or Layers")
    return config_name, layer_names


def _diff_ids(config: Any, layer_names: list[Any]) -> list[Any]:
    """The config's ``rootfs.diff_ids``: one per layer the manifest names."""
    if not isinstance(config, dict) or not isinstance(config.get("rootfs"), dict):
        raise BuildError("the saved image's config is not a JSON object with a rootfs")
    diff_ids = config["rootfs"].get("diff_ids")
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layer_names):
        raise BuildError("the saved image's config does not list one diff_id per layer")
    return diff_ids


def _check_layer_names(layer_names: list[Any]) -> None:
    """BuildError unless there are 1 to MAX_LAYERS layers, each named once."""
    if not 1 <= len(layer_names) <= MAX_LAYERS:
        raise BuildError(f"the saved image must have 1 to {MAX_LAYERS} layers")
    if len(set(map(str, layer_names))) != len(layer_names):
        raise BuildError("the saved image names one layer twice")


def _layer_members(
    members: dict[str, tarfile.TarInfo], layer_names: list[Any], max_bytes: int
) -> list[tarfile.TarInfo | None]:
    """The member of each layer name (None if there is none), all within ``max_bytes``."""
    found = [members.get(name) if isinstance(name, str) else None for name in layer_names]
    total = sum(member.size for member in found if member is not None)
    if total > max_bytes:
        raise BuildError(f"the saved image's layers hold {total} bytes, more than {max_bytes}")
    return found


def _checked_layer(
    archive: tarfile.TarFile, name: Any, diff_id: Any, member: tarfile.TarInfo | None
) -> Layer:
    """The layer, once its member is a regular file whose digest is its ``diff_id``."""
    if member is None or not member.isreg():
        raise BuildError(f"the saved image's layer {str(name)[:80]!r} is not a file in it")
    stream = archive.extractfile(member)
    assert stream is not None
    if _digest_of(stream) != diff_id:
        raise BuildError(f"the saved image's layer {name[:80]!r} does not match its diff_id")
    return Layer(name, member.size, diff_id)


def _labels(config: dict[str, Any]) -> dict[str, str]:
    """The image's labels (``config.Labels``), as strings; none if it has no such map."""
    inner = config.get("config") or {}
    labels = inner.get("Labels") if isinstance(inner, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def check_identity(image: SavedImage, *, version: str, arch: str, where: str) -> None:
    """BuildError unless the image is the release's: its version label, arch and OS."""
    shown = image.labels.get(VERSION_LABEL)
    if shown != version:
        raise BuildError(
            f"{where}: the image's {VERSION_LABEL} label is {shown!r}, "
            f"not the release's {version!r}"
        )
    if (image.os, image.architecture) != ("linux", arch):
        raise BuildError(
            f"{where}: the image is {image.os}/{image.architecture}, not the target's linux/{arch}"
        )
