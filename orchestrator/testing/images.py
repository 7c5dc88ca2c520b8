"""Container image archives as ``docker save`` writes them, for tests: sound or broken."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

LAYER = b"a layer's tar" * 100


def _add(
    archive: tarfile.TarFile, name: str, data: bytes, pax: dict[str, str] | None = None
) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.pax_headers = pax or {}
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
    layer_name: str = "abc/layer.tar",
    layer_listed: int = 1,
    layer_pax: dict[str, str] | None = None,
    config_text: str | None = None,
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
    config_bytes = (config_text or json.dumps(config)).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    entry = {"Config": config_name, "RepoTags": ["hello:1"], "Layers": [layer_name] * layer_listed}
    if layer_listed > 1:
        config["rootfs"]["diff_ids"] *= layer_listed
        config_bytes = json.dumps(config).encode()
        entry["Config"] = config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        _add(archive, "manifest.json", json.dumps([entry] * images).encode())
        _add(archive, config_name, config_bytes)
        if link_layer:
            info = tarfile.TarInfo(layer_name)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
            archive.addfile(info)
        else:
            _add(archive, layer_name, LAYER, layer_pax)
        if twice:
            _add(archive, layer_name, b"another")
    return path
