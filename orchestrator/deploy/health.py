"""Health checks: an HTTP GET from the orchestrator, or a command on the host.

A check is tried up to ``attempts`` times, ``interval`` seconds apart, each attempt bounded
by ``timeout``; the answer read is bounded too (a host is not trusted to be brief). The
result says whether it passed and what the last attempt saw, for the error message.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from orchestrator.config.environments import HealthCheck
from orchestrator.config.templating import render_template
from orchestrator.deploy.hosts import HostShell
from orchestrator.errors import DeployError
from orchestrator.remote.httpread import HttpFailure, get

MAX_BODY = 64 << 10


@dataclass(frozen=True)
class HealthResult:
    """How a health check ended: passed or not, after how many attempts, the last output."""

    passed: bool
    attempts: int
    output: str


def _http_attempt(url: str, status: int, contains: str | None, timeout: float) -> tuple[bool, str]:
    try:
        answer = get(url, timeout=timeout, limit=MAX_BODY)
    except (HttpFailure, ValueError) as error:
        return False, f"GET {url}: {error}"
    text = answer.body[:MAX_BODY].decode("utf-8", errors="replace").strip()
    seen = f"GET {url}: {answer.status} {text[:200]!r}"
    if answer.status != status:
        return False, seen
    if contains is not None and contains not in text:
        return False, f"{seen} does not contain {contains!r}"
    return True, seen


def _command_attempt(shell: HostShell, command: str, timeout: float) -> tuple[bool, str]:
    try:
        result = shell.run(command, timeout=timeout, as_user=True)
    except DeployError as error:
        return False, str(error)
    return result.status == 0, f"status {result.status}: {result.last_lines(3)}"


def check_health(
    health: HealthCheck,
    variables: dict[str, str],
    shell: HostShell,
    where: str,
    stopping: threading.Event,
) -> HealthResult:
    """Run ``health`` for one host until it passes or its attempts run out."""
    http = health.http
    url = contains = command = None
    if http is not None:
        url = render_template(http.url, variables, f"{where}.http.url", "a health check")
        if http.contains is not None:
            contains = render_template(
                http.contains, variables, f"{where}.http.contains", "a health check"
            )
    else:
        command = render_template(
            health.command or "", variables, f"{where}.command", "a health check"
        )
    output = ""
    for attempt in range(1, health.attempts + 1):
        if http is not None and url is not None:
            passed, output = _http_attempt(url, http.status, contains, health.timeout)
        else:
            passed, output = _command_attempt(shell, command or "", health.timeout)
        if passed:
            return HealthResult(True, attempt, output)
        if attempt < health.attempts and stopping.wait(health.interval):
            break
    return HealthResult(False, attempt, output)
