"""Finding and destroying the tool's droplets: ``invoke teardown`` and ``invoke status``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.cloud.digitalocean import DigitalOceanClient, DropletInfo
from orchestrator.cloud.droplets import destroy_and_confirm
from orchestrator.release.plan import run_tag

TEARDOWN_DEADLINE_SECONDS = 180.0


@dataclass(frozen=True)
class Selection:
    """Which of the tool's droplets to act on."""

    tool_tag: str
    run_id: str | None = None
    older_than_minutes: float | None = None

    @property
    def tag(self) -> str:
        """The tag to list: the run's tag when a run id is given, else the tool's tag."""
        return run_tag(self.tool_tag, self.run_id) if self.run_id else self.tool_tag

    def matches(self, droplet: DropletInfo, now: datetime) -> bool:
        """Whether ``droplet`` is selected (the tool's tag is required in every case)."""
        if self.tool_tag not in droplet.tags:
            return False
        if self.older_than_minutes is None:
            return True
        return now - droplet.created_at >= timedelta(minutes=self.older_than_minutes)


def select_droplets(
    client: DigitalOceanClient, selection: Selection, now: datetime
) -> list[DropletInfo]:
    """The live droplets matching ``selection``, oldest first."""
    droplets = [d for d in client.list_droplets(selection.tag) if selection.matches(d, now)]
    return sorted(droplets, key=lambda d: (d.created_at, d.name))


def teardown(
    client: DigitalOceanClient,
    selection: Selection,
    now: datetime,
    *,
    deadline_seconds: float = TEARDOWN_DEADLINE_SECONDS,
) -> list[DropletInfo]:
    """Destroy the selected droplets and wait until the API no longer lists them.

    Safe to run twice and alongside another teardown: a droplet already gone counts
    as destroyed. Returns what it destroyed.
    """
    doomed = select_droplets(client, selection, now)
    destroy_and_confirm(client, [d.id for d in doomed], time.monotonic() + deadline_seconds)
    return doomed
