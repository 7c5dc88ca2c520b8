"""Container image archives as ``docker save`` writes them, for tests: sound or broken."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

LAYER = b"a layer's tar" * 100


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def saved_image(
    path: Path,
    *,
    labels: dict[str, str] | None = None,
    diff_id: str | None = None,
    images: int = 1,
    twice: bool = False,
    link_layer: bool = False,
    arch: str = "amd64",
) -> Path:
    """Write a ``docker save`` archive (Docker 20.10's layout) of one one-layer image at ``path``.

    The keywords break it the ways a hostile build host might.
    """
    config: dict[str, Any] = {
        "architecture": arch,
        "os": "linux",
        "config": {
            "Labels": labels
            if labels is not None
            else {"org.opencontainers.image.version": "1.2.3"}
        },
        "rootfs": {
            "type": "layers",
            "diff_ids": [diff_id or "sha256:" + hashlib.sha256(LAYER).hexdigest()],
        },
    }
    config_bytes = json.dumps(config).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    entry = {"Config": config_name, "RepoTags": ["hello:1"], "Layers": ["abc/layer.tar"]}
    with tarfile.open(path, "w") as archive:
        _add(archive, "manifest.json", json.dumps([entry] * images).encode())
        _add(archive, config_name, config_bytes)
        if link_layer:
            info = tarfile.TarInfo("abc/layer.tar")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
            archive.addfile(info)
        else:
            _add(archive, "abc/layer.tar", LAYER)
        if twice:
            _add(archive, "abc/layer.tar", b"another")
    return path
