"""Start, stop, reconfigure and inspect a sandbox: what the invoke tasks and tests call.

The daemon runs in its own session and logs to ``DIR/server.log``; everything else about it
is read from the state directory, so any process can stop or inspect a sandbox, even one
whose daemon died (its droplet hosts are found from their directories and killed). A
sandbox also runs a repo server host (:mod:`orchestrator.sandbox.reposerver`), started
after the daemon and stopped with it, and the Debian servers deploys boot
(:mod:`orchestrator.sandbox.servers`), powered off with it. Its registry, started when a
task needs it, carries a third-party image (:mod:`orchestrator.sandbox.vendor`); its
Python package index (:mod:`orchestrator.sandbox.pyindex`) is started the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orchestrator
from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.engine.waiting import waiting_for
from orchestrator.errors import PublishError, SandboxError
from orchestrator.sandbox import hosts, processes, pyindex, registry, reposerver, servers, vendor
from orchestrator.sandbox.state import (
    RequestRecord,
    SandboxFiles,
    ensure_token,
    files_of,
    load_state,
    read_config,
    read_request_log,
    read_server_info,
    read_token,
    save_state,
    write_config,
)

SERVER_MODULE = "orchestrator.sandbox.server"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

# Daemons this process started, so that stopping one also reaps it (no zombie left behind).
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class SandboxInfo:
    """How to reach a running sandbox; ``api_url`` ends in ``/v2/`` as python-digitalocean needs."""

    api_url: str
    token: str
    state_dir: Path
    pid: int


@dataclass(frozen=True)
class DropletSummary:
    """A droplet as ``status`` reports it; ``address`` is None while it is new."""

    id: int
    name: str
    status: str
    address: str | None
    tags: tuple[str, ...]
    created_at: str


@dataclass(frozen=True)
class SandboxStatus:
    """Whether the daemon runs, where, and the droplets the account lists."""

    running: bool
    api_url: str
    pid: int | None
    droplets: tuple[DropletSummary, ...]

    def describe(self) -> str:
        """A few lines for people: the daemon, then one line per droplet."""
        if self.running:
            lines = [f"sandbox running: API {self.api_url} (pid {self.pid})"]
        else:
            lines = [f"sandbox not running (its API would be {self.api_url})"]
        lines.append(f"{len(self.droplets)} droplet(s)")
        for droplet in self.droplets:
            tags = ",".join(droplet.tags) or "-"
            lines.append(
                f"  {droplet.id}  {droplet.name}  {droplet.status}  "
                f"{droplet.address or '-'}  tags={tags}  created {droplet.created_at}"
            )
        if self.droplets and not self.running:
            lines.append("their hosts may still run: `invoke sandbox.down` destroys them")
        return "\n".join(lines)


def _api_url(settings: SandboxSettings) -> str:
    return f"http://{settings.api_host}:{settings.api_port}/v2/"


def _daemon_pid(files: SandboxFiles) -> int | None:
    """The pid of the live daemon of this state directory, checked by its command line."""
    info = read_server_info(files)
    if info is None or not processes.is_alive(info.pid):
        return None
    command = processes.cmdline(info.pid)
    return info.pid if SERVER_MODULE in command and str(files.root) in command else None


def _healthy(api_url: str, token: str) -> bool:
    """Whether our daemon answers: any DigitalOcean-style answer but 401 (another sandbox)."""
    import requests  # here, not at the top: the task list imports this module

    try:
        response = requests.get(
            f"{api_url}account", headers={"Authorization": f"Bearer {token}"}, timeout=2
        )
    except requests.RequestException:
        return False
    return response.status_code != 401 and "ratelimit-limit" in response.headers


def _log_tail(files: SandboxFiles) -> str:
    try:
        lines = files.server_log.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return "(no server.log)"
    return "\n".join(lines[-10:])


def running(settings: SandboxSettings) -> SandboxInfo | None:
    """The running, healthy sandbox of these settings' state directory, if there is one."""
    files = files_of(settings)
    pid = _daemon_pid(files)
    info = read_server_info(files)
    if pid is None or info is None:
        return None
    try:
        token = read_token(files)
    except SandboxError:
        return None
    if not _healthy(info.api_url, token):
        return None
    return SandboxInfo(api_url=info.api_url, token=token, state_dir=files.root, pid=pid)


def _spawn_daemon(files: SandboxFiles) -> subprocess.Popen[bytes]:
    # The daemon must import this package even when it is not installed.
    project = str(Path(orchestrator.__file__).resolve().parent.parent)
    pythonpath = os.pathsep.join(filter(None, [project, os.environ.get("PYTHONPATH")]))
    with files.server_log.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "--state-dir", str(files.root)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=processes.clean_environment(pythonpath),
            # Its own session: a Ctrl-C in the terminal of the caller must not kill it.
            start_new_session=True,
        )
    _children[process.pid] = process
    return process


def start(settings: SandboxSettings) -> SandboxInfo:
    """Start the daemon and wait until it answers; SandboxError if it does not."""
    what = (
        f"starting the sandbox: its DigitalOcean API on {settings.api_host}:{settings.api_port} "
        f"and its repo server on {settings.repo_server_address}"
    )
    with waiting_for(what):
        return _start(settings)


def _start(settings: SandboxSettings) -> SandboxInfo:
    files = files_of(settings)
    pid = _daemon_pid(files)
    if pid is not None:
        raise SandboxError(
            f"a sandbox daemon (pid {pid}) already runs on {files.root}; "
            "use ensure_running, or stop it first"
        )
    if processes.listening(settings.api_host, settings.api_port):
        # Most likely another checkout's sandbox: its daemon logs only "Address in use".
        raise SandboxError(
            f"{settings.api_host}:{settings.api_port} is already taken (another checkout's "
            "sandbox?): stop what listens there, or set cloud.sandbox.api_port in the "
            "inventory to a free port"
        )
    files.root.mkdir(parents=True, exist_ok=True)
    write_config(files, settings.model_copy(update={"state_dir": files.root}))
    token = ensure_token(files)
    files.server.unlink(missing_ok=True)
    process = _spawn_daemon(files)

    def answering() -> bool:
        if process.poll() is not None:
            return True  # it will not answer; said below
        info = read_server_info(files)
        return info is not None and info.pid == process.pid and _healthy(info.api_url, token)

    processes.wait_until(answering, START_TIMEOUT, interval=0.05)
    status = process.poll()
    if status is not None:
        raise SandboxError(
            f"the sandbox daemon exited with status {status}; {files.server_log} ends with:\n"
            + _log_tail(files)
        )
    info = read_server_info(files)
    if info is None or not answering():
        _stop_daemon(process.pid)
        raise SandboxError(
            f"the sandbox daemon did not answer within {START_TIMEOUT:g}s; "
            f"{files.server_log} ends with:\n" + _log_tail(files)
        )
    _start_repo_server(settings, process.pid)
    return SandboxInfo(api_url=info.api_url, token=token, state_dir=files.root, pid=process.pid)


def _start_repo_server(settings: SandboxSettings, daemon_pid: int) -> None:
    try:
        # It outlives a daemon that died, as droplet hosts do.
        reposerver.ensure_running(settings)
    except SandboxError:
        # A sandbox without its repo server is not the one asked for.
        _stop_daemon(daemon_pid)
        raise


# Settings a running daemon cannot take up: it listens and hands out addresses by them.
_FIXED_WHILE_RUNNING = (
    "api_host", "api_port", "address_pool", "private_address_pool", "ssh_port",
    "repo_server_address", "repo_http_port", "registry_address", "registry_port", "engine_address",
    "python_index_address", "python_index_port",
)  # fmt: skip


@contextlib.contextmanager
def _starting(files: SandboxFiles) -> Iterator[None]:
    """One process at a time starts this sandbox's parts: two tasks run at once, say."""
    files.root.mkdir(parents=True, exist_ok=True)
    with (files.root / "start.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def ensure_running(settings: SandboxSettings) -> SandboxInfo:
    """The running sandbox (and its repo server) with these settings, started if need be.

    A running sandbox takes up changed faults, delays and limits at once; a changed
    address or port needs a restart, which SandboxError says.
    """
    info = running(settings)
    if info is None:
        with _starting(files_of(settings)):
            # Another process may have started it while this one waited.
            info = running(settings) or start(settings)
    files = files_of(settings)
    wanted = settings.model_copy(update={"state_dir": files.root})
    current = read_config(files)
    changed = [
        name for name in _FIXED_WHILE_RUNNING if getattr(current, name) != getattr(wanted, name)
    ]
    if changed:
        raise SandboxError(
            f"the sandbox running on {files.root} uses another {', '.join(changed)}: "
            "run invoke sandbox.down, then start it again to apply the inventory's"
        )
    if current != wanted:
        write_config(files, wanted)
    # Under the start lock: two runs that both find it half-running restart it once.
    with _starting(files):
        reposerver.ensure_running(settings)
    return info


def ensure_registry(settings: SandboxSettings) -> registry.RegistryAccess:
    """The sandbox (its daemon and repo server) and its registry, started if need be.

    The registry serves the third-party image ``vendor/cache`` too, pushed unless its
    tags are there (:mod:`orchestrator.sandbox.vendor`).
    """
    ensure_running(settings)
    with _starting(files_of(settings)):
        access = registry.ensure_running(settings)
        try:
            vendor.ensure_cache(access)
        except PublishError as error:
            raise SandboxError(
                f"pushing {vendor.REPOSITORY} to the sandbox registry: {error}"
            ) from None
        return access


def ensure_python_index(settings: SandboxSettings) -> pyindex.IndexAccess:
    """The sandbox (its daemon and repo server) and its Python index, started if need be."""
    ensure_running(settings)
    with _starting(files_of(settings)):
        return pyindex.ensure_running(settings)


def ensure_images(settings: SandboxSettings) -> registry.RegistryAccess:
    """The sandbox's registry and the Docker engine droplets build with, started if need be."""
    access = ensure_registry(settings)
    servers.ensure_engine(settings)
    return access


def configure(settings: SandboxSettings) -> None:
    """Give a running sandbox new settings (faults, delays, limits); its address stays."""
    files = files_of(settings)
    write_config(files, settings.model_copy(update={"state_dir": files.root}))


def _wait_exit(pid: int, timeout: float) -> bool:
    child = _children.get(pid)
    if child is None:
        return not processes.wait_gone([pid], timeout)
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    del _children[pid]
    return True


def _stop_daemon(pid: int) -> None:
    processes.kill(pid, signal.SIGTERM)
    if not _wait_exit(pid, STOP_TIMEOUT):
        processes.kill(pid, signal.SIGKILL)
        if not _wait_exit(pid, STOP_TIMEOUT):
            raise SandboxError(f"the sandbox daemon (pid {pid}) survived SIGKILL")


def stop(settings: SandboxSettings) -> list[str]:
    """Stop the daemon, the repo server, the servers and every droplet host; the droplets' names.

    Works from the state directory alone, so it also cleans up after a dead daemon, and
    running it twice is harmless. The repo server's directory (keys, snapshots) is kept;
    the servers' roots are deleted.
    """
    files = files_of(settings)
    # Every part is stopped even if one fails: the first failure is raised at the end.
    failures: list[Exception] = []
    for stop_part in (servers.stop_servers, registry.stop, pyindex.stop, reposerver.stop):
        try:
            stop_part(settings)
        except (OSError, SandboxError) as error:
            failures.append(error)
    pid = _daemon_pid(files)
    if pid is not None:
        # Hosts first, while their parent (the daemon) lives to reap them; then once more
        # for any host a boot under way started meanwhile.
        hosts.stop_host(files.hosts)
        _stop_daemon(pid)
    hosts.destroy_host(files.hosts)
    state = load_state(files)
    names = [droplet.name for droplet in state.droplets]
    if state.droplets:
        state.droplets = []
        save_state(files, state)
    files.server.unlink(missing_ok=True)
    if failures:
        raise failures[0]
    return names


def status(settings: SandboxSettings) -> SandboxStatus:
    """Whether the sandbox runs, and the droplets its account lists."""
    files = files_of(settings)
    info = running(settings)
    now = time.time()
    droplets = tuple(
        DropletSummary(
            id=droplet.id,
            name=droplet.name,
            status=droplet.status,
            address=None if droplet.status == "new" else droplet.address,
            tags=tuple(droplet.tags),
            created_at=droplet.created_at,
        )
        for droplet in load_state(files).droplets
        if droplet.visible(now)
    )
    return SandboxStatus(
        running=info is not None,
        api_url=info.api_url if info else _api_url(settings),
        pid=info.pid if info else None,
        droplets=droplets,
    )


def request_log(settings: SandboxSettings) -> list[RequestRecord]:
    """Every request the sandbox answered, oldest first."""
    return read_request_log(files_of(settings))


def droplet_processes(settings: SandboxSettings) -> list[int]:
    """Pids of live processes of this sandbox's droplet hosts."""
    return hosts.host_processes(files_of(settings).hosts)


def host_processes(settings: SandboxSettings) -> list[int]:
    """Pids of live processes of the droplet hosts, the repo server and the servers.

    Empty after ``stop``.
    """
    return sorted(
        droplet_processes(settings)
        + reposerver.processes(settings)
        + registry.processes_of(settings)
        + pyindex.processes_of(settings)
        + servers.server_processes(settings)
    )
