"""Run ids: one per run of a plan (a release, a deploy), sorting by when it began; pure."""

from __future__ import annotations

import re
from datetime import datetime

_RUN_ID = re.compile(r"[0-9]{8}t[0-9]{6}-[0-9a-f]{6}")


def new_run_id(now: datetime, token: str) -> str:
    """A run id that sorts by time: ``20261122t103005-a1b2c3`` (``token`` is 6 hex digits)."""
    run_id = f"{now:%Y%m%dt%H%M%S}-{token}"
    if not _RUN_ID.fullmatch(run_id):
        raise ValueError(f"token must be 6 lowercase hex digits, got {token!r}")
    return run_id


def is_run_id(value: str) -> bool:
    """Whether ``value`` has the shape of a run id."""
    return _RUN_ID.fullmatch(value) is not None
