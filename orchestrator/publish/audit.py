"""Lines of the append-only audit log kept beside the repository; pure.

One tab-separated line per publish, rollback or failure::

    2026-11-22T10:30:05Z  v1.2.3  1.2.3  20261122T103005Z-1.2.3  20261122t102900-a1b2c3  published  4 uploaded

Fields: time (UTC), tag, version, snapshot, run id, result, detail; ``-`` for an empty one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

Result = Literal["published", "rolled back", "removed", "failed", "interrupted"]


def _field(value: str) -> str:
    cleaned = " ".join(value.split())
    return cleaned or "-"


def audit_line(
    now: datetime,
    *,
    tag: str,
    version: str,
    snapshot: str,
    run_id: str,
    result: Result,
    detail: str = "",
) -> str:
    """One audit log line, without the newline."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    fields = (stamp, tag, version, snapshot, run_id, result, detail)
    return "\t".join(_field(value) for value in fields)
