"""Notifications: the inventory's webhooks, told when a release publishes and a deploy ends.

Each webhook's URL comes from an environment variable the inventory names, never from the
file (a Slack URL is a secret: whoever has it can post). The body is Slack-compatible
(``{"text": ...}``) or a generic JSON object with every field. A webhook that fails, is
missing its variable or does not answer in time is reported, and never fails the release
or the deploy: the message was a courtesy, the work is done.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from orchestrator.config.inventory import Inventory
from orchestrator.config.schema import EventKind
from orchestrator.remote.httpread import HttpFailure, exchange

Say = Callable[[str], None]


@dataclass(frozen=True)
class Event:
    """Something worth telling: what happened, to which version, where, how it ended."""

    kind: EventKind
    project: str
    version: str
    result: str
    message: str
    run_id: str
    environment: str | None = None
    report: str | None = None

    def text(self) -> str:
        """One line for a chat channel."""
        where = f" to {self.environment}" if self.environment else ""
        link = f" (report: {self.report})" if self.report else ""
        return f"{self.project} {self.kind} of {self.version}{where}: {self.result} — {self.message}{link}"


@dataclass(frozen=True)
class Webhook:
    """Where to tell it (see :class:`orchestrator.config.inventory.Notify`)."""

    name: str
    url_env: str
    format: Literal["slack", "json"]
    events: tuple[EventKind, ...]
    timeout: float


def body_of(event: Event, format: Literal["slack", "json"]) -> bytes:
    """The request body for ``format``."""
    if format == "slack":
        return json.dumps({"text": event.text()}).encode()
    return json.dumps({"event": event.kind, **asdict(event)}, sort_keys=True).encode()


def notify(
    webhooks: Sequence[Webhook],
    event: Event,
    say: Say,
    environ: Mapping[str, str] = os.environ,
) -> list[str]:
    """Post ``event`` to every webhook that wants it; the problems, each also said."""
    problems = []
    for hook in webhooks:
        if event.kind not in hook.events:
            continue
        url = environ.get(hook.url_env, "")
        if not url:
            problems.append(f"notify {hook.name}: {hook.url_env} is not set; not sent")
            continue
        try:
            answer = exchange(
                "POST", url, timeout=hook.timeout, limit=4096, body=body_of(event, hook.format),
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
        except ValueError:
            # The URL is a secret: messages name the webhook, never where it points.
            problems.append(f"notify {hook.name}: {hook.url_env} is not an http(s) URL")
            continue
        except HttpFailure as error:
            problems.append(f"notify {hook.name}: not delivered ({error})")
            continue
        if not 200 <= answer.status < 300:
            problems.append(f"notify {hook.name}: the webhook answered {answer.status}")
    for problem in problems:
        say(f"warning: {problem}")
    return problems


def webhooks_of(inventory: Inventory) -> tuple[Webhook, ...]:
    """The webhooks ``inventory`` names under ``notify``."""
    return tuple(
        Webhook(n.name, n.url_env, n.format, tuple(n.events), n.timeout) for n in inventory.notify
    )
