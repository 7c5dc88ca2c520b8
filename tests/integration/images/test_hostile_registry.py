"""Registry answers the client must survive: a real HTTP server on 127.0.0.1 misbehaving."""

from __future__ import annotations

import hashlib
import http.server
import json
from collections.abc import Iterator

import pytest

from orchestrator.errors import PublishError
from orchestrator.images.registry import Credentials, Registry
from tests.integration.conftest import http_server

pytestmark = pytest.mark.integration

CONFIG = b'{"architecture": "amd64", "os": "linux"}'
DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()
SEEN: list[tuple[str, str | None]] = []


class _Registry(http.server.BaseHTTPRequestHandler):
    def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        SEEN.append((self.path, self.headers.get("Authorization")))
        port = self.server.server_address[1]  # type: ignore[index]
        if self.path == f"/v2/hello/blobs/{DIGEST}":
            # As a registry on S3 does: the blob is elsewhere, at a signed URL.
            self._send(307, Location=f"http://127.0.0.1:{port}/storage/config?signed=1")
        elif self.path == "/storage/config?signed=1":
            self._send(200, CONFIG)
        elif self.path.startswith("/v2/loop/tags/list"):
            self._send(
                200, json.dumps({"tags": ["1.0.0"]}).encode(),
                Link='</v2/loop/tags/list?n=100>; rel="next"',
            )  # fmt: skip
        elif self.path.startswith("/v2/many/tags/list"):
            tags = [f"t{n}" for n in range(60_000)]
            self._send(
                200, json.dumps({"tags": tags}).encode(),
                Link=f'</v2/many/tags/list?last={len(SEEN)}>; rel="next"',
            )  # fmt: skip
        elif self.path.startswith("/v2/deep/tags/list"):
            self._send(200, b'{"tags": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
        else:
            self._send(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[Registry]:
    SEEN.clear()
    with http_server(_Registry) as base:
        yield Registry(base, Credentials("ci", "pw"))


def test_a_blob_kept_elsewhere_is_read_through_one_redirect_without_the_login(
    registry: Registry,
) -> None:
    assert registry.blob("hello", DIGEST) == CONFIG
    (storage,) = [auth for path, auth in SEEN if path.startswith("/storage/")]
    assert storage is None, "the login went to the storage URL"


def test_a_tag_list_that_loops_or_never_ends_is_refused(registry: Registry) -> None:
    with pytest.raises(PublishError, match="leads back to a page it gave"):
        registry.tags("loop")
    with pytest.raises(PublishError, match="more than 100000 tags"):
        registry.tags("many")
    with pytest.raises(PublishError, match="a tag list that is not JSON"):
        registry.tags("deep")
