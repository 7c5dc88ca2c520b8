"""A third party's registry: read with its own login, or none; one that wants a login says so."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from orchestrator.cli.wiring.deploy import PublishedReleaseIndex
from orchestrator.config.environments import Environment
from orchestrator.config.inventory import parse_inventory
from orchestrator.errors import UsageError

ROOT = Path(__file__).resolve().parents[3]


class _LoginWanted(http.server.BaseHTTPRequestHandler):
    """A registry that answers every request 401, with no token realm to try."""

    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="registry"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LoginWanted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _index(registry: dict[str, str]) -> tuple[PublishedReleaseIndex, Environment]:
    data = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
    dev = next(e for e in data["environments"] if e["name"] == "container-dev")
    dev["services"][1]["registry"] = registry
    loaded = parse_inventory(yaml.safe_dump(data), Path("inv.yaml"))
    return PublishedReleaseIndex(loaded), loaded.environment("container-dev")


def test_a_registry_that_wants_a_login_nobody_gave_is_bad_input(registry_url: str) -> None:
    index, environment = _index({"url": registry_url})
    with pytest.raises(UsageError, match=r"service cache: .* refused the login .* username_env"):
        index.available(environment, "cache")


def test_a_login_named_but_not_set_is_bad_input(
    registry_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CACHE_USER", raising=False)
    monkeypatch.delenv("CACHE_PASSWORD", raising=False)
    registry = {"url": registry_url, "username_env": "CACHE_USER", "password_env": "CACHE_PASSWORD"}
    index, environment = _index(registry)
    with pytest.raises(UsageError, match="CACHE_USER and CACHE_PASSWORD: set both"):
        index.available(environment, "cache")
