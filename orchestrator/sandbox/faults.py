"""Injected faults: which requests fail (and how), which droplets misbehave.

See :mod:`orchestrator.config.sandbox_settings` for what each fault kind means.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from orchestrator.config.sandbox_settings import REQUEST_FAULTS, FaultRule
from orchestrator.sandbox.apierrors import ApiError

_SERVER_ERRORS = {
    500: ("server_error", "Unexpected server-side error (injected by the sandbox)."),
    503: ("service_unavailable", "Service temporarily unavailable (injected by the sandbox)."),
}


def fault_error(rule: FaultRule) -> ApiError:
    """The error answer a request-fault rule gives."""
    if rule.kind == "rate_limit":
        return ApiError(
            429,
            "too_many_requests",
            "API Rate limit exceeded.",
            {"Retry-After": str(rule.retry_after)},
        )
    error_id, message = _SERVER_ERRORS[rule.status]
    return ApiError(rule.status, error_id, message)


class RequestFaults:
    """Counts the requests each rule matches and fails those its ``after``/``times`` select."""

    def __init__(self, rules: Sequence[FaultRule]) -> None:
        self.rules = tuple(rules)
        self._matched = [0] * len(self.rules)
        self._fired = [0] * len(self.rules)
        self._lock = threading.Lock()

    def check(self, method: str, path: str) -> ApiError | None:
        """The injected error for this request, or None to handle it normally."""
        with self._lock:
            chosen: FaultRule | None = None
            # Every matching rule counts the request, even when an earlier rule fires.
            for index, rule in enumerate(self.rules):
                if rule.kind not in REQUEST_FAULTS or not rule.matches_request(method, path):
                    continue
                self._matched[index] += 1
                due = self._matched[index] > rule.after and self._fired[index] < rule.times
                if chosen is None and due:
                    self._fired[index] += 1
                    chosen = rule
            return None if chosen is None else fault_error(chosen)


def droplet_has_fault(rules: Sequence[FaultRule], kind: str, name: str) -> bool:
    """Whether a droplet of this name is subject to a droplet rule of this ``kind``."""
    return any(rule.kind == kind and rule.matches_droplet(name) for rule in rules)
