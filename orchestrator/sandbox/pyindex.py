"""The sandbox's Python package index: pypiserver (from PyPI) on a loopback address.

It serves ``<state_dir>/pyindex/packages`` at ``python_index_address:python_index_port``
with uploads behind a login (an htpasswd of one user, ``__token__``, as PyPI's tokens
go) and downloads open, as a public index's are; it never falls back to another index.
The token is made once and kept in ``<state_dir>/pyindex/token`` (mode 0600, written
atomically; an empty one is made again; the htpasswd holds only its apr1 hash, which
passlib reads without bcrypt). The packages
survive a restart, as a real index's do. The process is found by its package
directory on its command line, so a sandbox that lost track of it still stops it.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.engine.atomic import write_atomically
from orchestrator.errors import SandboxError
from orchestrator.sandbox import processes
from orchestrator.sandbox.state import files_of

DIRECTORY = "pyindex"
USER = "__token__"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class IndexAccess:
    """Where the sandbox's index is (uploads at ``url``, pages under ``url/simple/``), its login."""

    url: str
    username: str
    token: str = field(repr=False)

    @property
    def simple_url(self) -> str:
        """The index's PEP 503 pages."""
        return f"{self.url}/simple/"


def directory(settings: SandboxSettings) -> Path:
    """The index's directory: token, htpasswd, packages and log."""
    return files_of(settings).root / DIRECTORY


def _token(base: Path) -> str:
    path = base / "token"
    found = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    if not found:
        # Whole or not at all: an interrupt never leaves an empty token (one the old
        # touch-then-write left is made again, as a missing one is).
        found = secrets.token_urlsafe(24)
        write_atomically(path, found, mode=0o600)
    return found


def access(settings: SandboxSettings) -> IndexAccess:
    """The index's URL and login (the token is made on first use)."""
    return IndexAccess(
        url=f"http://{settings.python_index_address}:{settings.python_index_port}",
        username=USER,
        token=_token(directory(settings)),
    )


def packages(settings: SandboxSettings) -> Path:
    """Where the index keeps the uploaded files."""
    return directory(settings) / "packages"


def processes_of(settings: SandboxSettings) -> list[int]:
    """Live index processes of this sandbox."""
    marker = str(packages(settings))
    return [
        pid
        for pid in processes.all_pids()
        if processes.is_alive(pid)
        and "pypiserver" in processes.cmdline(pid)
        and processes.cmdline(pid).endswith(marker)
    ]


def command(settings: SandboxSettings, base: Path) -> list[str]:
    """Pypiserver's command line: uploads behind the htpasswd, no fallback to another index."""
    return [
        sys.executable, "-m", "pypiserver", "run",
        "--interface", settings.python_index_address,
        "--port", str(settings.python_index_port),
        "--passwords", str(base / "htpasswd"),
        "--authenticate", "update",
        "--disable-fallback",
        "--hash-algo", "sha256",
        str(packages(settings)),
    ]  # fmt: skip


def ensure_running(settings: SandboxSettings) -> IndexAccess:
    """Start the index unless it runs; its access."""
    found = access(settings)
    address, port = settings.python_index_address, settings.python_index_port
    # One quick probe can miss a daemon busy with another run: it gets a few seconds.
    if processes_of(settings) and processes.answering(address, port):
        return found
    stop(settings)
    if processes.listening(address, port):
        raise SandboxError(
            f"{address}:{port} is already taken (another sandbox?): stop what listens "
            "there, or set cloud.sandbox.python_index_address"
        )
    base = directory(settings)
    packages(settings).mkdir(parents=True, exist_ok=True)
    hashed = subprocess.run(
        ["htpasswd", "-nim", found.username],
        input=found.token,
        capture_output=True,
        text=True,
        check=False,
    )
    if hashed.returncode != 0:
        raise SandboxError(f"htpasswd failed: {hashed.stderr.strip()[-200:]}")
    (base / "htpasswd").write_text(hashed.stdout.strip() + "\n", encoding="utf-8")
    if not processes.start_listening(
        command(settings, base), base / "pypiserver.log", address, port, START_TIMEOUT
    ):
        stop(settings)
        raise SandboxError(
            f"the sandbox's Python index did not listen on {address}:{port} within "
            f"{START_TIMEOUT:g}s; see {base / 'pypiserver.log'}"
        )
    return found


def stop(settings: SandboxSettings) -> None:
    """Stop the index; its packages and token stay."""
    processes.stop_all(processes_of(settings), STOP_TIMEOUT)
