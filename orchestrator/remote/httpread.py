"""HTTP exchanges with servers the tool does not trust: bounded in size and in total time.

A socket timeout bounds each read, not the answer: a server that trickles its headers or
its body a byte at a time keeps a plain ``urlopen`` going for ever. :func:`get` gives the
whole exchange one deadline: a watchdog shuts the socket down when it passes, which ends
whatever read is waiting. Redirects are not followed (an answer may not send the tool
elsewhere), and anything but a well-formed answer is an :class:`HttpFailure`.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO

CHUNK = 1 << 16


class HttpFailure(OSError):
    """No whole, well-formed answer before the deadline; the message says what happened."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: its status, (up to the limit, plus one byte) its body, its headers."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url[:80]!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    return kind(parts.hostname, parts.port, timeout=timeout), path


def get(url: str, *, timeout: float, limit: int) -> Answer:
    """GET ``url``; the whole exchange within ``timeout`` seconds, the body up to ``limit``.

    ValueError for a URL that is not http(s); :class:`HttpFailure` for everything else
    that is not an answer in time.
    """
    return exchange("GET", url, timeout=timeout, limit=limit)


def exchange(
    method: str,
    url: str,
    *,
    timeout: float,
    limit: int,
    body: bytes | IO[bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One HTTP request and its answer, within ``timeout`` seconds (see :func:`get`).

    A ``body`` read from a file needs its Content-Length in ``headers``.
    """
    connection, path = _connection(url, timeout)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: nothing to end
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, expire)
    watchdog.daemon = True
    deadline = time.monotonic() + timeout
    watchdog.start()
    try:
        connection.request(
            method, path, body=body, headers={**(headers or {}), "Connection": "close"}
        )
        response = connection.getresponse()
        received = bytearray()
        while len(received) <= limit and time.monotonic() < deadline:
            chunk = response.read1(min(CHUNK, limit + 1 - len(received)))
            if not chunk:
                break
            received += chunk
        if expired.is_set() or (len(received) <= limit and time.monotonic() >= deadline):
            raise HttpFailure(f"no whole answer within {timeout:g}s")
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, bytes(received), headers)
    except (OSError, http.client.HTTPException) as error:
        if isinstance(error, HttpFailure):
            raise
        if expired.is_set():
            raise HttpFailure(f"no whole answer within {timeout:g}s") from None
        raise HttpFailure(f"{error.__class__.__name__}: {error}".rstrip(": ")) from None
    finally:
        watchdog.cancel()
        connection.close()
