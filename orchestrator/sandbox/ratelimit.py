"""DigitalOcean's rate limit: each request counts for one window after it was made.

``ratelimit-reset`` is when the oldest counted request expires (DigitalOcean's definition),
so the limit frees up request by request rather than all at once.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """Whether a request may proceed, and the ``ratelimit-*`` headers to send with it."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        """The ``ratelimit-*`` response headers."""
        return {
            "ratelimit-limit": str(self.limit),
            "ratelimit-remaining": str(self.remaining),
            "ratelimit-reset": str(self.reset),
        }


class SlidingWindow:
    """At most ``limit`` requests in any ``window`` seconds."""

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def _verdict(self, now: float, allowed: bool) -> Verdict:
        reset = self._times[0] + self.window if self._times else now
        return Verdict(
            allowed=allowed,
            limit=self.limit,
            remaining=max(0, self.limit - len(self._times)),
            reset=math.ceil(reset),
            retry_after=max(1, math.ceil(reset - now)),
        )

    def _expire(self, now: float) -> None:
        while self._times and self._times[0] + self.window <= now:
            self._times.popleft()

    def hit(self) -> Verdict:
        """Count a request if the window has room; a refused request does not count."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._times) >= self.limit:
                return self._verdict(now, allowed=False)
            self._times.append(now)
            return self._verdict(now, allowed=True)

    def peek(self) -> Verdict:
        """The current state without counting a request (for unauthenticated answers)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            return self._verdict(now, allowed=len(self._times) < self.limit)
