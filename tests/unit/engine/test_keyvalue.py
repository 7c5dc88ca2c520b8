"""The key=value text of lock details and process owners."""

from __future__ import annotations

import pytest

from orchestrator.engine.keyvalue import parse_fields, render_fields
from orchestrator.engine.liveness import Owner


def test_fields_render_one_a_line_and_parse_back() -> None:
    text = render_fields({"host": "builder", "pid": 42, "note": "a=b"})
    assert text == "host=builder\npid=42\nnote=a=b\n"
    assert parse_fields(text, ("pid", "note")) == {"pid": "42", "note": "a=b"}


def test_a_line_break_in_a_value_cannot_add_a_field() -> None:
    text = render_fields({"tag": "v1\nrun_id=forged\r", "run_id": "r1"})
    assert text == "tag=v1 run_id=forged \nrun_id=r1\n"
    assert parse_fields(text, ("run_id",)) == {"run_id": "r1"}


def test_a_text_without_a_field_is_not_read() -> None:
    with pytest.raises(ValueError, match="no pid, started"):
        parse_fields("host=h\nnot a field\nboot=b\n", ("host", "pid", "started"))


def test_an_owner_round_trips_and_a_half_written_one_names_nobody() -> None:
    owner = Owner("builder", "boot-1", 42, "1234")
    assert Owner.parse(owner.render()) == owner
    assert Owner.parse(owner.render().replace("pid=42", "pid=x")) is None
    assert Owner.parse(owner.render().split("pid=")[0]) is None
