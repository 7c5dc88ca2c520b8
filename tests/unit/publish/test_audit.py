from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.publish.audit import audit_line


def test_audit_lines_are_one_tab_separated_line() -> None:
    line = audit_line(
        datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC),
        tag="v1.2.3",
        version="1.2.3",
        snapshot="20261122T103005Z-1.2.3",
        run_id="20261122t102900-a1b2c3",
        result="failed",
        detail="upload\tbroke\nhere",
    )

    assert line.split("\t") == [
        "2026-11-22T10:30:05Z",
        "v1.2.3",
        "1.2.3",
        "20261122T103005Z-1.2.3",
        "20261122t102900-a1b2c3",
        "failed",
        "upload broke here",
    ]
    assert audit_line(
        datetime(2026, 1, 1, tzinfo=UTC), tag="", version="1", snapshot="s", run_id="r",
        result="rolled back",
    ).split("\t")[1::5] == ["-", "-"]  # fmt: skip
