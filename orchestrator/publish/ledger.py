"""The deploy ledger: the versions that failed in each environment, kept beside the repository; pure.

Each host keeps the records of its own deploys (:mod:`orchestrator.deploy.records`), and root
on that host can rewrite them: erase a ``failed`` line, forge a healthy one. So a failed
deploy also writes its version where no deployed host can: into this ledger, on the first
publish target (the one hosts install from), beside the tree and never served (a repo
server's root, beside ``snapshots/`` and the audit log; a bucket's ``.orchestrator/``
prefix, without a public ACL). Deploys and promotions read it with the hosts' records: a
version it lists is never taken again by a range, nor promoted. One JSON document::

    {"format": 1, "environments": {"dev": [{"version": "1.2.7", "time": "2026-12-07T03:05:00Z",
      "run_id": "20261207t030500-a1b2c3", "host": "dev-1", "detail": "health check failed"}]}}

What a target holds is read as untrusted: bounded, every field checked. A ledger that is not
one is an error naming the target, never read as empty, which would let its versions through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from orchestrator.errors import PublishError

FILE = "deploys.json"
# What a write of the ledger holds a target's lock as, so that a waiting publisher knows.
TASK = "deploy ledger"
FORMAT = 1
# About two thousand failures; the ledger is read whole by every deploy and promotion.
MAX_BYTES = 1 << 20
MAX_FIELD = 500
_FIELDS = ("version", "time", "run_id", "host", "detail")


@dataclass(frozen=True)
class DeployFailure:
    """One version that failed in an environment: when, in which run, on which host, why."""

    version: str
    time: str
    run_id: str
    host: str
    detail: str = ""


Failures = dict[str, tuple[DeployFailure, ...]]
"""Environment name -> the versions that failed there, in the order they failed."""


def _malformed(where: str, problem: str) -> PublishError:
    return PublishError(
        f"{where}: the deploy ledger {FILE} is not one ({problem}); it lists the versions that "
        "failed in each environment, so deploys stop until it is repaired by hand (never "
        "deleted: its versions would be taken again)"
    )


def _failure(entry: Any, where: str) -> DeployFailure:
    if not isinstance(entry, dict) or set(entry) != set(_FIELDS):
        raise _malformed(where, f"an entry has not exactly the fields {', '.join(_FIELDS)}")
    for name in _FIELDS:
        value = entry[name]
        if not isinstance(value, str) or len(value) > MAX_FIELD:
            raise _malformed(where, f"an entry's {name} is not a string of at most {MAX_FIELD}")
    if not entry["version"]:
        raise _malformed(where, "an entry has an empty version")
    return DeployFailure(**entry)


def parse_ledger(data: bytes, where: str) -> Failures:
    """The failures in ``data``; PublishError naming ``where`` if it is not a ledger."""
    if len(data) > MAX_BYTES:
        raise _malformed(where, f"larger than {MAX_BYTES} bytes")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise _malformed(where, f"not JSON: {str(error)[:100]}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _malformed(where, f"not an object of format {FORMAT}")
    environments = document.get("environments")
    if not isinstance(environments, dict):
        raise _malformed(where, "no environments object")
    failures: Failures = {}
    for environment, entries in environments.items():
        if len(environment) > MAX_FIELD or not isinstance(entries, list):
            raise _malformed(where, "an environment's failures are not a list")
        failures[environment] = tuple(_failure(entry, where) for entry in entries)
    return failures


def render_ledger(failures: Mapping[str, tuple[DeployFailure, ...]]) -> bytes:
    """The ledger as the target stores it."""
    environments = {
        name: [asdict(failure) for failure in entries] for name, entries in sorted(failures.items())
    }
    text = json.dumps({"format": FORMAT, "environments": environments}, indent=1, sort_keys=True)
    return f"{text}\n".encode()


def with_failure(
    failures: Failures, environment: str, failure: DeployFailure, where: str
) -> tuple[Failures, bytes]:
    """The ledger with ``failure`` added (unless its version is listed there), and its bytes.

    PublishError when it would pass :data:`MAX_BYTES`: written anyway, a later read would
    refuse it.
    """
    clipped = DeployFailure(*(getattr(failure, name)[:MAX_FIELD] for name in _FIELDS))
    listed = failures.get(environment, ())
    if any(entry.version == clipped.version for entry in listed):
        return failures, render_ledger(failures)
    added = {**failures, environment: (*listed, clipped)}
    data = render_ledger(added)
    if len(data) > MAX_BYTES:
        raise PublishError(
            f"{where}: the deploy ledger {FILE} would pass {MAX_BYTES} bytes with "
            f"{clipped.version} of {environment}; move the oldest failures of environments "
            "that no longer run them to an archive by hand"
        )
    return added, data
