"""Health checks against real HTTP servers on 127.0.0.1 that misbehave."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from orchestrator.config.environments import HealthCheck, HttpCheck
from orchestrator.deploy.health import check_health
from tests.integration.conftest import http_server


class _Trickle(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        for _ in range(100):
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(0.2)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Redirect(_Trickle):
    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.end_headers()


class _SlowHeaders(_Trickle):
    def do_GET(self) -> None:
        self.send_response(200)
        for number in range(50):
            self.send_header(f"X-Slow-{number}", "1")
            self.wfile.write(b"")
            self.flush_headers()
            time.sleep(0.2)
        self.end_headers()


class _Garbage(_Trickle):
    def do_GET(self) -> None:
        self.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    with http_server(request.param) as base:
        yield f"{base}/health"


@pytest.mark.parametrize("server", [_Trickle, _SlowHeaders], indirect=True)
def test_a_trickling_answer_fails_within_the_timeout(server: str) -> None:
    health = HealthCheck(http=HttpCheck(url=server), timeout=1.0, attempts=1)
    started = time.monotonic()
    result = check_health(health, {}, None, "health", threading.Event())  # type: ignore[arg-type]
    assert not result.passed and "no whole answer within 1s" in result.output
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("server", [_Redirect], indirect=True)
def test_a_redirect_is_not_followed(server: str) -> None:
    health = HealthCheck(http=HttpCheck(url=server), timeout=1.0, attempts=1)
    result = check_health(health, {}, None, "health", threading.Event())  # type: ignore[arg-type]
    assert not result.passed and "302" in result.output


@pytest.mark.parametrize("server", [_Garbage], indirect=True)
def test_a_garbage_answer_is_a_failed_attempt_and_the_check_goes_on(server: str) -> None:
    health = HealthCheck(http=HttpCheck(url=server), timeout=1.0, attempts=2, interval=0.01)
    result = check_health(health, {}, None, "health", threading.Event())  # type: ignore[arg-type]
    assert not result.passed and result.attempts == 2 and "BadStatusLine" in result.output
