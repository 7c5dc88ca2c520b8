"""The sandbox's repo server: a sandbox host with a web root, and an HTTP server for it.

Its sshd (see :mod:`orchestrator.sandbox.hosts`) listens on ``repo_server_address`` and lets
in one client key that the sandbox generates; its web root is :data:`WEB_ROOT`, inside the
host's private /root. An HTTP server on ``repo_http_port`` serves the web root's
``current`` symlink from outside the host (its /root is ``<directory>/root``). The HTTP
server is started under ``unshare --pid`` with the directory on its command line, so the
host's own functions find and stop it along with sshd.

Everything lives in ``<state_dir>/reposerver``: host and client keys, the published
snapshots and the logs. Stopping the sandbox stops the processes and keeps the directory,
as a real server keeps its disk, so a pinned host key and published snapshots survive.
An inventory publishes to it with ``host_key: sandbox``: host key and client key are read
from here (see :func:`access`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import orchestrator
from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.errors import SandboxError
from orchestrator.sandbox import hosts
from orchestrator.sandbox.keys import generate_host_key, public_of
from orchestrator.sandbox.processes import clean_environment, listening, wait_until
from orchestrator.sandbox.state import files_of

DIRECTORY = "reposerver"
WEB_ROOT = "/root/repo"
CLIENT_KEY = "client_key"
HTTP_MODULE = "orchestrator.sandbox.repohttp"
START_TIMEOUT = 10.0
# A server busy with another run's publish can miss one quick probe: one whose processes
# live gets this long to answer before it is restarted under the runs that use it.
ANSWER_PATIENCE = 5.0


@dataclass(frozen=True)
class RepoServerAccess:
    """How a publisher reaches the sandbox repo server."""

    address: str
    port: int
    host_key: str
    identity_file: Path
    web_root: str
    url: str


def directory(settings: SandboxSettings) -> Path:
    """The repo server host's directory."""
    return files_of(settings).root / DIRECTORY


def served_directory(settings: SandboxSettings) -> Path:
    """The web root's ``current`` as seen from outside the host."""
    return directory(settings) / "root" / WEB_ROOT.removeprefix("/root/") / "current"


def _client_key(host_dir: Path) -> str:
    """The private key publishers log in with, generated once."""
    path = host_dir / CLIENT_KEY
    if not path.is_file():
        host_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(generate_host_key(), encoding="utf-8")
    return path.read_text(encoding="utf-8")


def host_spec(settings: SandboxSettings) -> hosts.HostSpec:
    """The sshd host of the repo server, with its kept host key and the client key."""
    host_dir = directory(settings)
    return hosts.HostSpec(
        directory=host_dir,
        address=settings.repo_server_address,
        port=settings.ssh_port,
        host_key=hosts.existing_host_key(host_dir) or generate_host_key(),
        authorized_keys=(public_of(_client_key(host_dir)),),
        masked=(files_of(settings).root,),
    )


def http_command(settings: SandboxSettings) -> list[str]:
    """The HTTP server's command: in its own pid namespace, found by its directory."""
    return [
        "unshare",
        "--fork",
        "--pid",
        "--kill-child",
        "--",
        sys.executable,
        "-m",
        HTTP_MODULE,
        "--root",
        str(served_directory(settings)),
        "--address",
        settings.repo_server_address,
        "--port",
        str(settings.repo_http_port),
    ]


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return "(no log)"
    return " | ".join(lines[-5:]) or "(empty log)"


def _start_http(settings: SandboxSettings) -> None:
    host_dir = directory(settings)
    address, port = settings.repo_server_address, settings.repo_http_port
    if listening(address, port):
        raise SandboxError(
            f"{address}:{port} is already taken (another checkout's sandbox?): stop what "
            "listens there, or set cloud.sandbox.repo_http_port (or repo_server_address) "
            "to a free one"
        )
    served_directory(settings).parent.mkdir(parents=True, exist_ok=True)
    # The server must import this package even when it is not installed.
    project = str(Path(orchestrator.__file__).resolve().parent.parent)
    pythonpath = os.pathsep.join(filter(None, [project, os.environ.get("PYTHONPATH")]))
    log_path = host_dir / "http.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            http_command(settings),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=clean_environment(pythonpath),
            start_new_session=True,
        )
    wait_until(lambda: process.poll() is not None or listening(address, port), START_TIMEOUT)
    if process.poll() is not None or not listening(address, port):
        raise SandboxError(
            f"the repo server's HTTP server did not listen on {address}:{port} within "
            f"{START_TIMEOUT:g}s: {_log_tail(log_path)}"
        )


def start(settings: SandboxSettings) -> None:
    """Start the repo server's sshd and HTTP server; SandboxError if either fails."""
    hosts.start_host(host_spec(settings))
    try:
        _start_http(settings)
    except SandboxError:
        hosts.stop_host(directory(settings))
        raise


def is_running(settings: SandboxSettings) -> bool:
    """Whether both the sshd and the HTTP server answer."""
    return listening(settings.repo_server_address, settings.ssh_port) and listening(
        settings.repo_server_address, settings.repo_http_port
    )


def ensure_running(settings: SandboxSettings) -> None:
    """Start the repo server unless it runs; a half-running one is restarted."""
    if is_running(settings):
        return
    if processes(settings) and wait_until(lambda: is_running(settings), ANSWER_PATIENCE, 0.1):
        return
    stop(settings)
    start(settings)


def stop(settings: SandboxSettings) -> None:
    """Stop every process of the repo server; its directory (keys, snapshots) stays."""
    hosts.stop_host(directory(settings))


def processes(settings: SandboxSettings) -> list[int]:
    """Live processes of the repo server."""
    return hosts.host_processes(directory(settings))


def access(settings: SandboxSettings) -> RepoServerAccess:
    """Address, pinned host key and client key file of the repo server; SandboxError if absent."""
    host_dir = directory(settings)
    host_key_file = host_dir / f"{hosts.HOST_KEY}.pub"
    if not host_key_file.is_file() or not (host_dir / CLIENT_KEY).is_file():
        raise SandboxError(
            f"the sandbox repo server has not been started ({host_dir} is empty): invoke sandbox.up"
        )
    return RepoServerAccess(
        address=settings.repo_server_address,
        port=settings.ssh_port,
        host_key=host_key_file.read_text(encoding="utf-8").strip(),
        identity_file=host_dir / CLIENT_KEY,
        web_root=WEB_ROOT,
        url=f"http://{settings.repo_server_address}:{settings.repo_http_port}",
    )
