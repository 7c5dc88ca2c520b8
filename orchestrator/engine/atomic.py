"""Replacing a file so that readers see the old or the new content, never half of it."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomically(
    path: Path, data: str | bytes, *, mode: int = 0o644, durable: bool = False
) -> None:
    """Write ``data`` beside ``path`` and rename it over ``path``.

    ``durable`` also flushes the file to disk before the rename, for records that must
    survive a power cut (journals, the release ledger, reports); caches and state that can
    be rebuilt skip the fsync.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        # mkstemp makes the file 0600; most of these files are meant to be read by others.
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json_atomically(path: Path, data: Any, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` as indented JSON (see :func:`write_atomically`)."""
    write_atomically(path, json.dumps(data, indent=2, sort_keys=True), durable=durable)
