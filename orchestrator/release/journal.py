"""The journal of a run: ``.orchestrator/runs/<run-id>/journal.json``.

Every operation and every droplet is written down the moment it starts or exists, with a
temporary file renamed over the old one, so a crash at any point leaves a complete
journal that says what to clean up, and ``--resume`` knows which targets already have
verified artifacts (recorded as soon as they are verified, whatever happens to their
droplet after).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from orchestrator.cloud.droplets import CreatedDroplet
from orchestrator.engine.atomic import write_json_atomically
from orchestrator.engine.executor import Span
from orchestrator.release.artifacts import Artifact, sha256_of

JOURNAL = "journal.json"


class Journal:
    """A run's journal, rewritten atomically on every change (thread-safe)."""

    def __init__(self, run_dir: Path, header: dict[str, Any]) -> None:
        self.path = run_dir / JOURNAL
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {
            **header,
            "status": "running",
            "started_at": time.time(),
            "finished_at": None,
            "operations": [],
            "droplets": {},
            "targets": {},
        }
        # Where each running operation's entry is, by (program, name).
        self._running: dict[tuple[str | None, str], int] = {}
        self._write()

    def _write(self) -> None:
        write_json_atomically(self.path, self._data)

    def operation(self, span: Span) -> None:
        """Record that an operation started (status "running") or how it ended."""
        running = span.status == "running"
        entry = {
            "target": span.program,
            "name": span.name,
            "kind": span.kind,
            "where": span.where,
            "status": span.status,
            "detail": span.detail[:2000],
            "started": span.started,
            "ended": None if running else span.ended,
        }
        key = (span.program, span.name)
        with self._lock:
            operations = self._data["operations"]
            index = self._running.pop(key, None)
            if running or index is None:
                operations.append(entry)
                if running:
                    self._running[key] = len(operations) - 1
            else:
                operations[index] = entry
            self._write()

    def droplet_created(self, droplet: CreatedDroplet) -> None:
        """Record a droplet the moment the API accepted it."""
        with self._lock:
            self._data["droplets"][str(droplet.id)] = {
                "id": droplet.id,
                "name": droplet.name,
                "tags": list(droplet.tags),
                "created_at": time.time(),
                "destroyed_at": None,
            }
            self._write()

    def droplet_destroyed(self, droplet: CreatedDroplet) -> None:
        """Record that a droplet is gone."""
        with self._lock:
            entry = self._data["droplets"].get(str(droplet.id))
            if entry is not None:
                entry["destroyed_at"] = time.time()
                self._write()

    def target_verified(self, name: str, artifacts: tuple[Artifact, ...]) -> None:
        """Record a target whose artifacts are verified and safe on the orchestrator."""
        with self._lock:
            self._data["targets"][name] = {
                "status": "verified",
                "artifacts": [
                    {
                        "path": str(a.path),
                        "name": a.name,
                        "sha256": a.sha256,
                        "size": a.size,
                        "kind": a.kind,
                    }
                    for a in artifacts
                ],
            }
            self._write()

    def finish(self, status: str) -> None:
        """Record how the run ended."""
        with self._lock:
            self._data["status"] = status
            self._data["finished_at"] = time.time()
            self._write()


def read_journal(path: Path) -> dict[str, Any] | None:
    """A journal's data, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def last_interrupted_run(runs_dir: Path, tag: str, version: str) -> dict[str, Any] | None:
    """The newest journal of ``tag`` (same version) that was interrupted or crashed, if any."""
    candidates = []
    for path in runs_dir.glob(f"*/{JOURNAL}"):
        data = read_journal(path) or {}
        if (data.get("tag"), data.get("version")) == (tag, version) and data.get("status") in (
            "interrupted",
            "running",  # a run killed outright never wrote its end
        ):
            candidates.append(data)
    return max(candidates, key=lambda d: float(d.get("started_at", 0)), default=None)


def reusable_artifacts(journal: dict[str, Any]) -> dict[str, tuple[Artifact, ...]]:
    """Verified artifacts of an earlier run whose files are still intact, per target."""
    reusable: dict[str, tuple[Artifact, ...]] = {}
    for name, target in journal.get("targets", {}).items():
        if target.get("status") != "verified":
            continue
        artifacts = tuple(
            Artifact(Path(a["path"]), a["name"], a["sha256"], int(a["size"]), a["kind"])
            for a in target.get("artifacts", [])
        )
        if artifacts and all(a.path.is_file() and sha256_of(a.path) == a.sha256 for a in artifacts):
            reusable[name] = artifacts
    return reusable
