"""The HTTP face of the sandbox: authentication, rate limit, faults, then the routes.

Every request is logged, refused ones included, and every answer carries the
``ratelimit-*`` headers. Only the stdlib HTTP server is used; it binds to a loopback address.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.sandbox.apierrors import ApiError
from orchestrator.sandbox.faults import RequestFaults
from orchestrator.sandbox.ratelimit import SlidingWindow
from orchestrator.sandbox.routes import ApiRequest, ApiResponse, Router
from orchestrator.sandbox.state import RequestLog, RequestRecord

log = logging.getLogger(__name__)

REQUESTS_PER_MINUTE = 250
# DigitalOcean allows only 10 listings of account keys a minute, on top of the general limit.
KEY_LISTINGS_PER_MINUTE = 10


def _rate_limited(retry_after: int) -> ApiError:
    return ApiError(
        429, "too_many_requests", "API Rate limit exceeded.", {"Retry-After": str(retry_after)}
    )


class Emulator:
    """Answers API requests: the whole pipeline, without any HTTP plumbing."""

    def __init__(
        self,
        router: Router,
        token: str,
        settings: Callable[[], SandboxSettings],
        request_log: RequestLog,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._router = router
        self._token = token
        self._settings = settings
        self._request_log = request_log
        self._clock = clock
        self._limit = SlidingWindow(REQUESTS_PER_MINUTE, clock=clock)
        self._key_listings = SlidingWindow(KEY_LISTINGS_PER_MINUTE, clock=clock)
        self._faults = RequestFaults([])

    def _request_faults(self) -> RequestFaults:
        rules = self._settings().faults
        # New rules (configure) start with fresh counters; unchanged rules keep counting.
        if tuple(rules) != self._faults.rules:
            self._faults = RequestFaults(rules)
        return self._faults

    def _authorized(self, authorization: str | None) -> bool:
        scheme, _, credentials = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), self._token.encode()
        )

    def _answer(self, request: ApiRequest) -> ApiResponse:
        verdict = self._limit.hit()
        if not verdict.allowed:
            raise _rate_limited(verdict.retry_after)
        fault = self._request_faults().check(request.method, request.path)
        if fault is not None:
            raise fault
        if request.method == "GET" and request.path.rstrip("/") == "/v2/account/keys":
            listing = self._key_listings.hit()
            if not listing.allowed:
                raise _rate_limited(listing.retry_after)
        return self._router.dispatch(request)

    def handle(self, request: ApiRequest, authorization: str | None) -> ApiResponse:
        """The answer to one request, logged."""
        try:
            if not self._authorized(authorization):
                raise ApiError(401, "unauthorized", "Unable to authenticate you")
            response = self._answer(request)
        except ApiError as error:
            response = ApiResponse(error.status, error.body(), error.headers)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            response = ApiResponse(
                500, {"id": "server_error", "message": "Unexpected server-side error"}
            )
        headers = {**self._limit.peek().headers(), **response.headers}
        self._request_log.append(
            RequestRecord(
                time=self._clock(),
                method=request.method,
                path=request.path,
                query=request.query,
                status=response.status,
            )
        )
        return ApiResponse(response.status, response.body, headers)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, keep-alive clients would
    # wait for a delayed ACK (40 ms) on every request.
    disable_nagle_algorithm = True
    server: EmulatorServer

    def _serve(self, with_body: bool = True) -> None:
        url = urlsplit(self.path)
        try:
            length = max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError:
            length = 0
        request = ApiRequest(
            method=self.command,
            path=unquote(url.path),
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            body=self.rfile.read(length) if length else b"",
        )
        response = self.server.emulator.handle(request, self.headers.get("Authorization"))
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        payload = b""
        if response.status != 204:
            payload = json.dumps(response.body).encode()
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if with_body:
            self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve(with_body=False)

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        # The request log already records every request; keep server.log for problems.
        log.debug(format, *args)


class EmulatorServer(ThreadingHTTPServer):
    """A threading HTTP server that hands every request to an :class:`Emulator`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)
