"""Webhooks against a real HTTP receiver on 127.0.0.1: what it gets, and what goes wrong."""

from __future__ import annotations

import time

import pytest

from orchestrator.notify import Event, Webhook, notify
from tests.integration.conftest import Receiver

EVENT = Event(
    "promote", "hello", "1.2.3", "deployed", "prod runs 1.2.3 on every host", "run-1", "prod",
    "/reports/run-1.html",
)  # fmt: skip


def hook(
    format: str = "json", timeout: float = 2.0, events: tuple[str, ...] = ("promote",)
) -> Webhook:
    return Webhook("team", "TEAM_HOOK", format, events, timeout)  # type: ignore[arg-type]


def test_slack_and_json_bodies_arrive(receiver: Receiver) -> None:
    said: list[str] = []
    environ = {"TEAM_HOOK": receiver.url}
    assert notify([hook("slack"), hook("json")], EVENT, said.append, environ) == []
    slack, generic = (r["body"] for r in receiver.received)
    assert slack == {"text": EVENT.text()}
    assert "hello promote of 1.2.3 to prod: deployed" in slack["text"]
    assert generic["event"] == "promote" and generic["environment"] == "prod"
    assert generic["report"] == "/reports/run-1.html" and generic["result"] == "deployed"
    assert said == []


def test_only_the_events_a_webhook_wants(receiver: Receiver) -> None:
    notify([hook(events=("release",))], EVENT, print, {"TEAM_HOOK": receiver.url})
    assert receiver.received == []


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("refused", "not delivered"),
        ("slow", "no whole answer within 0.5s"),
        ("500", "answered 500"),
        ("unset", "TEAM_HOOK is not set"),
        ("garbage", "not an http(s) URL"),
    ],
)
def test_a_failing_webhook_is_reported_never_raised_and_its_url_never_shown(
    receiver: Receiver, setup: str, expected: str
) -> None:
    environ = {"TEAM_HOOK": receiver.url}
    if setup == "refused":
        environ["TEAM_HOOK"] = "http://127.0.0.1:9/hook/SECRET-TOKEN"
    elif setup == "slow":
        receiver.delay = 3.0
    elif setup == "500":
        receiver.status = 500
    elif setup == "unset":
        environ = {}
    else:
        environ["TEAM_HOOK"] = "ftp://SECRET-TOKEN"
    said: list[str] = []
    started = time.monotonic()
    problems = notify([hook(timeout=0.5)], EVENT, said.append, environ)
    assert time.monotonic() - started < 2.5
    assert len(problems) == 1 and expected in problems[0], problems
    assert said == [f"warning: {problems[0]}"]
    assert "SECRET-TOKEN" not in problems[0]
