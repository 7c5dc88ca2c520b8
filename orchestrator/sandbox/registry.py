"""The sandbox's container registry: Debian's ``docker-registry`` (CNCF Distribution 2.8).

It listens on ``registry_address:registry_port`` (plain HTTP: Docker allows it on
127.0.0.0/8) and lets in two users: the orchestrator's, and the one the sandbox's Compose
hosts pull with (as a real host's administrator would log in with a token of its own).
The sandbox generates each password once and keeps it in ``<state_dir>/registry/`` (mode
0600; the htpasswd file holds only their bcrypt hashes). Distribution's htpasswd login
cannot be limited to pulls, so unlike a real registry's read-only token the hosts' login
could push: the sandbox trusts its own servers. Images are stored under ``<state_dir>/registry/storage`` and survive a restart,
as a real registry's do. The process is found by its configuration file's path on its
command line, so a sandbox that lost track of it still stops it.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.errors import SandboxError
from orchestrator.sandbox import processes
from orchestrator.sandbox.state import files_of

DIRECTORY = "registry"
USER = "relorch"
# The login the sandbox's Compose hosts pull with.
HOST_USER = "relorch-hosts"
BINARY = "docker-registry"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class RegistryAccess:
    """Where the sandbox's registry is and how to log in."""

    url: str
    username: str
    password: str = field(repr=False)


def directory(settings: SandboxSettings) -> Path:
    """The registry's directory: configuration, password, storage and log."""
    return files_of(settings).root / DIRECTORY


def _password(base: Path, name: str = "password") -> str:
    path = base / name
    if not path.is_file():
        base.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(24), encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()


def config_text(settings: SandboxSettings, base: Path) -> str:
    """The registry's configuration (YAML; every value here is the sandbox's own)."""
    return "\n".join(
        [
            "version: 0.1",
            "log:",
            "  level: warn",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {base / 'storage'}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: {settings.registry_address}:{settings.registry_port}",
            "auth:",
            "  htpasswd:",
            "    realm: relorch-sandbox",
            f"    path: {base / 'htpasswd'}",
            "",
        ]
    )


def _config(base: Path) -> Path:
    return base / "config.yml"


def processes_of(settings: SandboxSettings) -> list[int]:
    """Live registry processes of this sandbox."""
    marker = str(_config(directory(settings)))
    return [
        pid
        for pid in processes.all_pids()
        if processes.is_alive(pid) and processes.cmdline(pid).endswith(f"serve {marker}")
    ]


def access(settings: SandboxSettings) -> RegistryAccess:
    """The registry's URL and login (the password is made on first use)."""
    return RegistryAccess(
        url=f"http://{settings.registry_address}:{settings.registry_port}",
        username=USER,
        password=_password(directory(settings)),
    )


def host_access(settings: SandboxSettings) -> RegistryAccess:
    """The registry's URL and the login its Compose hosts pull with."""
    return RegistryAccess(
        url=f"http://{settings.registry_address}:{settings.registry_port}",
        username=HOST_USER,
        password=_password(directory(settings), "host-password"),
    )


def ensure_running(settings: SandboxSettings) -> RegistryAccess:
    """Start the registry unless it runs; its access."""
    found = access(settings)
    base = directory(settings)
    logins = base / "htpasswd"
    # A registry started before the hosts had a login of their own is started again.
    current = logins.is_file() and f"{HOST_USER}:" in logins.read_text(encoding="utf-8")
    # One quick probe can miss a registry busy with another run: it gets a few seconds.
    if (
        current
        and processes_of(settings)
        and processes.answering(settings.registry_address, settings.registry_port)
    ):
        return found
    stop(settings)
    if processes.listening(settings.registry_address, settings.registry_port):
        raise SandboxError(
            f"{settings.registry_address}:{settings.registry_port} is already taken (another "
            "sandbox?): stop what listens there, or set cloud.sandbox.registry_address"
        )
    lines = []
    for login in (found, host_access(settings)):
        hashed = subprocess.run(
            ["htpasswd", "-niB", login.username],
            input=login.password,
            capture_output=True,
            text=True,
            check=False,
        )
        if hashed.returncode != 0:
            raise SandboxError(f"htpasswd failed: {hashed.stderr.strip()[-200:]}")
        lines.append(hashed.stdout.strip())
    (base / "htpasswd").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _config(base).write_text(config_text(settings, base), encoding="utf-8")
    address, port = settings.registry_address, settings.registry_port
    if not processes.start_listening(
        [BINARY, "serve", str(_config(base))], base / "registry.log", address, port, START_TIMEOUT
    ):
        stop(settings)
        raise SandboxError(
            f"the sandbox registry did not listen on {address}:{port} within "
            f"{START_TIMEOUT:g}s; see {base / 'registry.log'}"
        )
    return found


def stop(settings: SandboxSettings) -> None:
    """Stop the registry; its storage and password stay."""
    processes.stop_all(processes_of(settings), STOP_TIMEOUT)
