"""What a publish is told about the release, and what it reports back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

Say = Callable[[str], None]
"""Where progress lines and warnings go (``print`` in the tasks)."""
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class PublishInfo:
    """The release being published: recorded in locks, snapshot names and the audit log.

    ``tag`` may be empty (a tree published by hand); ``version`` names the snapshot.
    """

    run_id: str
    tag: str
    version: str


@dataclass(frozen=True)
class PublishedTo:
    """One target after a successful publish.

    ``snapshot`` is the repo server's current snapshot (None for a bucket); ``uploaded``
    counts the files sent; ``unchanged`` says the target already served this tree.
    """

    name: str
    url: str
    key_url: str
    snapshot: str | None
    uploaded: int
    unchanged: bool
