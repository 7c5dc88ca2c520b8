"""A long wait says what it waits for: a line at each end in a log, a spinner on a terminal."""

from __future__ import annotations

import io
import re

import pytest

from orchestrator.engine.waiting import waiting_for


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_when_the_wait_starts_and_one_when_it_ends() -> None:
    log = io.StringIO()
    with waiting_for("booting sandbox server(s) dev-1", log):
        assert re.fullmatch(
            r"\d\d:\d\d:\d\d booting sandbox server\(s\) dev-1 \.\.\.\n", log.getvalue()
        )
    last = log.getvalue().splitlines()[-1]
    assert re.fullmatch(r"\d\d:\d\d:\d\d booting sandbox server\(s\) dev-1: done in \d+\.\ds", last)


def test_a_failed_or_interrupted_wait_says_so_and_the_error_goes_on() -> None:
    log = io.StringIO()
    with pytest.raises(RuntimeError), waiting_for("building an image", log):
        raise RuntimeError("mmdebstrap failed")
    assert "building an image: failed in" in log.getvalue()
    log = io.StringIO()
    with pytest.raises(KeyboardInterrupt), waiting_for("building an image", log):
        raise KeyboardInterrupt
    assert "building an image: interrupted in" in log.getvalue()


def test_a_terminal_gets_a_spinner_then_one_line() -> None:
    screen = Terminal()
    with waiting_for("starting the sandbox", screen):
        pass
    assert "starting the sandbox: done in" in screen.getvalue()
    assert screen.getvalue().count("starting the sandbox: done") == 1
