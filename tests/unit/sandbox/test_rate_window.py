from __future__ import annotations

from orchestrator.sandbox.ratelimit import SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_request_counts_for_one_window() -> None:
    clock = Clock()
    window = SlidingWindow(3, window=60, clock=clock)

    first = window.hit()
    clock.now += 10
    window.hit()
    window.hit()
    refused = window.hit()

    assert (first.allowed, first.remaining, first.reset) == (True, 2, 1060)
    assert (refused.allowed, refused.remaining, refused.reset) == (False, 0, 1060)
    assert refused.retry_after == 50
    clock.now = 1060.5
    again = window.hit()
    assert (again.allowed, again.remaining, again.reset) == (True, 0, 1070)
    assert window.peek().headers() == {
        "ratelimit-limit": "3",
        "ratelimit-remaining": "0",
        "ratelimit-reset": "1070",
    }


def test_refused_requests_do_not_count() -> None:
    clock = Clock()
    window = SlidingWindow(1, window=60, clock=clock)
    window.hit()
    for _ in range(5):
        assert not window.hit().allowed
    clock.now += 60

    assert window.hit().allowed
