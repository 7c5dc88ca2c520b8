"""``hooks.after_publish``: the inventory's commands, run on the orchestrator after a publish.

A hook gets the release's variables and only what the inventory passes it of the
orchestrator's environment: a few harmless variables (:data:`BASELINE`) and the names in
``hooks.env``, never a secret (the inventory refuses those). Each hook runs in its own
session with a deadline, its output goes to ``logs/<run-id>/hooks.log``, and a failure is
reported, never un-published.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestrator.config.credentials import secret_variables

# What a shell command needs to behave as usual, and nothing that could hold a secret.
BASELINE = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM")  # fmt: skip
_TAIL_BYTES = 4096


def hook_environment(
    environ: Mapping[str, str], passed: Sequence[str], variables: Mapping[str, str]
) -> dict[str, str]:
    """The environment of a hook: the baseline and ``passed`` names, then ``variables``."""
    secrets = secret_variables()
    names = [name for name in (*BASELINE, *passed) if name not in secrets]
    return {**{name: environ[name] for name in names if name in environ}, **variables}


def _last_line(log: Path, start: int) -> str:
    with log.open("rb") as stream:
        stream.seek(max(start, log.stat().st_size - _TAIL_BYTES))
        lines = stream.read().decode(errors="replace").strip().splitlines()
    return lines[-1][:200] if lines else ""


def run_hook(
    command: str,
    *,
    environment: Mapping[str, str],
    cwd: Path,
    log: Path,
    timeout: float,
) -> str:
    """Run ``command`` with ``sh -c``, its output appended to ``log``; "hook ok" or "hook failed"."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as output:
        output.write(f"$ {command}\n".encode())
        output.flush()
        process = subprocess.Popen(
            ["sh", "-c", command],
            cwd=cwd,
            env=dict(environment),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            # Its own process group, so a timeout ends everything the hook started.
            start_new_session=True,
        )
        try:
            status = process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return f"hook failed (killed after {timeout:g}s): {command}"
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    if status == 0:
        return f"hook ok: {command}"
    last = _last_line(log, start)
    return f"hook failed (exit {status}): {command}" + (
        f": {last}" if last and last != f"$ {command}" else ""
    )
