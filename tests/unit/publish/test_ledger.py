"""The deploy ledger's document: parsed as untrusted, written whole, bounded; pure."""

from __future__ import annotations

import pytest

from orchestrator.errors import PublishError
from orchestrator.publish.ledger import (
    MAX_BYTES,
    DeployFailure,
    parse_ledger,
    render_ledger,
    with_failure,
)

FAILED = DeployFailure("1.2.7", "2026-12-07T03:05:00Z", "20261207t030500-a1b2c3", "dev-1", "why")


def test_a_ledger_reads_back_what_was_written() -> None:
    ledger, data = with_failure({}, "dev", FAILED, "target")
    assert ledger == {"dev": (FAILED,)} == parse_ledger(data, "target")
    assert render_ledger(parse_ledger(data, "target")) == data


@pytest.mark.parametrize(
    "data",
    [
        b"[]",
        b'{"format": 2, "environments": {}}',
        b'{"format": 1}',
        b'{"format": 1, "environments": {"dev": {}}}',
        b'{"format": 1, "environments": {"dev": [{"version": ""}]}}',
        b'{"format": 1, "environments": {"dev": [{"version": "", "time": "", "run_id": "", '
        b'"host": "", "detail": ""}]}}',
        b"\xff\xfe",
        b"[" * 100_000,
    ],
)
def test_anything_but_a_ledger_is_an_error_naming_the_target(data: bytes) -> None:
    with pytest.raises(
        PublishError, match=r"^bucket b: the deploy ledger deploys\.json is not one"
    ):
        parse_ledger(data, "bucket b")


def test_a_ledger_never_grows_past_its_bound() -> None:
    def entry(number: int) -> DeployFailure:
        return DeployFailure(f"1.0.{number:05d}", "t", "r", "h", "x" * 500)

    each = len(render_ledger({"dev": (entry(0), entry(1))})) - len(
        render_ledger({"dev": (entry(0),)})
    )
    ledger = {"dev": tuple(entry(n) for n in range(MAX_BYTES // each - 3))}
    with pytest.raises(PublishError, match="would pass"):
        for number in range(90_000, 90_010):
            ledger, data = with_failure(ledger, "dev", entry(number), "target")
            assert len(data) <= MAX_BYTES
