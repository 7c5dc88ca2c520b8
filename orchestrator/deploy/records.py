"""Deploy records: one JSON line per host per deploy, the truth of what runs where.

Every host a deploy touched gets a record appended to ``/var/lib/<tool>/deploys.jsonl``:
when, which run, which environment, the version and the one before (for an environment of
several services, the set of their versions: :mod:`orchestrator.deploy.sets`), the digest
of each image the deploy resolved, how it ended and who asked (a person, a CI job). A CI runner that starts empty reads them back from the hosts.
A host's records are read leniently: a line that is not a record is skipped, never
trusted, and the fields are checked before use; so is a line longer than a record ever is,
which the host already skips (:func:`orchestrator.commands.deploy.read_records`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

from orchestrator.commands.deploy import RECORD_LINE_MAX

Result = Literal["deployed", "failed", "rolled-back", "interrupted"]
Action = Literal["deploy", "promote", "rollback"]
_RESULTS = ("deployed", "failed", "rolled-back", "interrupted")
_ACTIONS = ("deploy", "promote", "rollback")
MAX_FIELD = 2000
# Fields a record has only for what has them (images): absent from the line otherwise,
# so an environment of packages writes the records it always wrote.
_OPTIONAL = ("digests",)
MAX_DIGESTS = 64


@dataclass(frozen=True)
class Audit:
    """Who asked for the deploy, for the records."""

    by: str
    ci_job: str | None = None
    approved_by: str | None = None


@dataclass(frozen=True)
class Record:
    """One deploy of one version to one host, as it ended.

    ``result``: ``deployed`` (the host runs ``version`` and passed its check), ``failed``
    (the deploy of ``version`` failed somewhere in the environment and this host went
    back to ``previous``: the version is never taken there again by a range),
    ``interrupted`` (a signal stopped the deploy and the host went back: the version did
    not fail), ``rolled-back`` (an ``env.rollback`` brought ``version`` back).
    """

    time: str
    run_id: str
    environment: str
    host: str
    action: Action
    version: str
    previous: str | None
    result: Result
    by: str
    ci_job: str | None = None
    approved_by: str | None = None
    health: str = ""
    detail: str = ""
    # Per image service: the digest the deploy resolved its tag to, which every host runs.
    digests: dict[str, str] | None = None

    def to_line(self) -> str:
        """The record as one JSON line (no newline inside)."""
        data = {k: v for k, v in asdict(self).items() if not (k in _OPTIONAL and v is None)}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _text(value: Any, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > MAX_FIELD:
        raise ValueError("not a short string")
    return value


def _digests(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > MAX_DIGESTS:
        raise ValueError("not a map of digests")
    return {_text(k) or "": _text(v) or "" for k, v in value.items()}


def parse_record(line: str) -> Record | None:
    """The record on ``line``; None for anything that is not one."""
    try:
        data = json.loads(line)
        if not isinstance(data, dict):
            return None
        result, action = data.get("result"), data.get("action")
        if result not in _RESULTS or action not in _ACTIONS:
            return None
        return Record(
            time=_text(data["time"]) or "",
            run_id=_text(data["run_id"]) or "",
            environment=_text(data["environment"]) or "",
            host=_text(data["host"]) or "",
            action=action,
            version=_text(data["version"]) or "",
            previous=_text(data.get("previous"), optional=True),
            result=result,
            by=_text(data.get("by", "")) or "",
            ci_job=_text(data.get("ci_job"), optional=True),
            approved_by=_text(data.get("approved_by"), optional=True),
            health=_text(data.get("health", "")) or "",
            detail=_text(data.get("detail", "")) or "",
            digests=_digests(data.get("digests")),
        )
    except (ValueError, KeyError, TypeError, RecursionError):
        return None


def parse_records(text: str) -> list[Record]:
    """Every record in ``text``, oldest first."""
    lines = (line for line in text.splitlines() if line.strip() and len(line) <= RECORD_LINE_MAX)
    records = (parse_record(line) for line in lines)
    return [record for record in records if record is not None]


def failed_versions(records: list[Record], environment: str) -> set[str]:
    """The versions that failed in ``environment``, or that a rollback left: never again.

    A version an operator rolled back from is as bad as one that failed its check: a
    range must not pick it up again (Argo CD's auto-sync did, #9570).
    """
    mine = [r for r in records if r.environment == environment]
    failed = {r.version for r in mine if r.result == "failed"}
    # A host that already ran the version a rollback brought back left nothing.
    left = {
        r.previous
        for r in mine
        if r.result == "rolled-back" and r.previous and r.previous != r.version
    }
    return failed | left
