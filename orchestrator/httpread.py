"""Reading an HTTP answer the tool does not trust: bounded in size and in total time.

A socket timeout bounds each read, not the answer: a server that trickles a byte a second
keeps ``response.read()`` going for ever. Here the body is read a chunk at a time
(``read1``: at most one receive each) against a deadline for the whole answer.
"""

from __future__ import annotations

import time
from typing import Protocol

CHUNK = 1 << 16


class Readable(Protocol):
    """An HTTP response body (``http.client.HTTPResponse`` or an ``HTTPError``)."""

    def read1(self, size: int = -1) -> bytes:
        """At most ``size`` bytes, from at most one receive."""


class TooSlow(OSError):
    """The answer did not arrive whole before its deadline."""


def read_bounded(response: Readable, limit: int, deadline: float) -> bytes:
    """Up to ``limit + 1`` bytes of ``response`` (one more says it was longer).

    :class:`TooSlow` once the monotonic ``deadline`` passes.
    """
    data = bytearray()
    while len(data) <= limit:
        if time.monotonic() > deadline:
            raise TooSlow("the answer did not arrive before its deadline")
        chunk = response.read1(min(CHUNK, limit + 1 - len(data)))
        if not chunk:
            break
        data += chunk
    return bytes(data)
