"""Verification results and the table ``invoke verify`` prints; pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CheckResult:
    """One client's check of one channel and architecture of one repository."""

    repository: str
    client: str
    channel: str
    arch: str
    ok: bool
    detail: str


HEADER = ("repository", "client", "channel", "architecture", "result")


def render_table(results: Sequence[CheckResult]) -> str:
    """Aligned columns, one line per check, then a count of failures."""
    rows = [HEADER] + [
        (
            result.repository,
            result.client,
            result.channel,
            result.arch,
            f"{'ok' if result.ok else 'FAILED'}: {result.detail}",
        )
        for result in results
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADER) - 1)]
    lines = [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]
    failed = sum(not result.ok for result in results)
    lines.append(f"{len(results) - failed} of {len(results)} checks passed")
    return "\n".join(lines)
