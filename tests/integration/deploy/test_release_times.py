"""When each release was published, read from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from orchestrator.deploy import index
from orchestrator.deploy.index import Available, published_times
from tests.integration.conftest import http_server

REQUESTED: list[str] = []


class _Repository(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        REQUESTED.append(self.path)
        if "slow" in self.path:
            time.sleep(3)
        if "1.2.3" in self.path or "slow" in self.path:
            self.send_response(200)
            self.send_header("Last-Modified", "Mon, 30 Nov 2026 09:15:00 GMT")
        elif "garbled" in self.path:
            self.send_response(200)
            self.send_header("Last-Modified", "yesterday-ish")
        elif "huge" in self.path:
            self.send_response(200)
            self.send_header("Last-Modified", "Mon, 01 Jan 2020 99999999999999999999:00:00 GMT")
        elif "edge" in self.path:
            self.send_response(200)
            self.send_header("Last-Modified", "Fri, 31 Dec 9999 23:59:59 -0100")
        elif "zoneless" in self.path:
            self.send_response(200)
            self.send_header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 -0000")
        else:
            self.send_response(404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def repository() -> Iterator[str]:
    REQUESTED.clear()
    with http_server(_Repository) as base:
        yield base


def test_release_times_come_from_the_package_files_and_only_those(
    repository: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "TIME_DEADLINE", 0.5)
    offered = [
        Available("1.2.3-1", "stable", "pool/main/h/hello/hello_1.2.3-1_amd64.deb"),
        Available("1.2.4-1", "stable", "pool/main/h/hello/hello_1.2.4-1_amd64.deb"),
        Available("1.2.5-1", "stable", "pool/main/h/hello/garbled.deb"),
        Available("1.2.6-1", "stable", "pool/main/h/hello/slow.deb"),
        Available("1.2.8-1", "stable", "pool/main/h/hello/huge.deb"),
        Available("1.2.9-1", "stable", "pool/main/h/hello/edge.deb"),
        Available("1.3.0-1", "stable", "pool/main/h/hello/zoneless.deb"),
        # The index is the server's word: a Filename may not lead out of deb/.
        Available("6.6.6-1", "stable", "pool/../../../.lock/details"),
        Available("7.7.7-1", "stable", "/etc/passwd"),
        Available("8.8.8-1", "stable", ""),
    ]
    started = time.monotonic()
    times = published_times(repository, offered)
    assert times == {
        "1.2.3-1": datetime(2026, 11, 30, 9, 15, tzinfo=UTC),
        "1.3.0-1": datetime(2024, 1, 1, tzinfo=UTC),
    }
    assert time.monotonic() - started < 2.5, "a slow answer is given up at the deadline"
    assert sorted(REQUESTED) == [
        "/deb/pool/main/h/hello/edge.deb",
        "/deb/pool/main/h/hello/garbled.deb",
        "/deb/pool/main/h/hello/hello_1.2.3-1_amd64.deb",
        "/deb/pool/main/h/hello/hello_1.2.4-1_amd64.deb",
        "/deb/pool/main/h/hello/huge.deb",
        "/deb/pool/main/h/hello/slow.deb",
        "/deb/pool/main/h/hello/zoneless.deb",
    ]


def test_only_the_newest_releases_are_timed_within_one_budget(
    repository: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "TIME_DEADLINE", 2.0)
    monkeypatch.setattr(index, "TIME_BUDGET", 0.5)
    monkeypatch.setattr(index, "TIMED_VERSIONS", 3)
    offered = [Available(f"1.{n}.0-1", "stable", f"pool/slow-{n}.deb") for n in range(40)]
    started = time.monotonic()
    assert published_times(repository, offered) == {}
    assert time.monotonic() - started < 1.5
    time.sleep(2.5)  # the requests under way end at their own deadline
    assert sorted(REQUESTED) == [f"/deb/pool/slow-{n}.deb" for n in (37, 38, 39)]
