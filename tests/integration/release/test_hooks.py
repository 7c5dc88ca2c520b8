"""After-publish hooks on this machine: a deadline, their own log, nothing left running."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from orchestrator.release.hooks import hook_environment, run_hook

pytestmark = pytest.mark.integration


def test_a_hook_past_its_deadline_is_killed_with_what_it_started(tmp_path: Path) -> None:
    marker = tmp_path / "still-running"
    started = time.monotonic()
    messages = [
        run_hook(
            command,
            environment=hook_environment({"PATH": "/usr/bin:/bin"}, [], {}),
            cwd=tmp_path,
            log=tmp_path / "logs" / "hooks.log",
            timeout=1,
        )
        for command in (f"(sleep 30; touch {marker}) & sleep 30", "echo second")
    ]
    assert time.monotonic() - started < 10
    assert messages[0].startswith("hook failed (killed after 1s)")
    assert messages[1] == "hook ok: echo second"
    assert "second" in (tmp_path / "logs" / "hooks.log").read_text()
    listed = subprocess.run(["pgrep", "-f", f"touch {marker}"], capture_output=True, text=True)
    assert listed.stdout == "", "the hook's background job outlived it"


def test_the_environment_is_the_baseline_and_the_passed_names() -> None:
    environ = {
        "PATH": "/bin", "HOME": "/root", "CHAT": "url", "OTHER": "x",
        "DIGITALOCEAN_ACCESS_TOKEN": "t", "ORCHESTRATOR_SIGNING_KEY": "k",
    }  # fmt: skip
    assert hook_environment(environ, ["CHAT", "DIGITALOCEAN_ACCESS_TOKEN"], {"TAG": "v1"}) == {
        "PATH": "/bin",
        "HOME": "/root",
        "CHAT": "url",
        "TAG": "v1",
    }
