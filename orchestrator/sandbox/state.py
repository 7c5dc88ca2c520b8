"""The sandbox's files: account state, settings, token, server address and request log.

Everything another process needs (``control.stop``, ``status``, a restarted daemon) is on disk
in the state directory; JSON files are replaced atomically so a reader never sees half of one.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.engine.atomic import write_atomically
from orchestrator.errors import SandboxError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SandboxFiles:
    """The paths inside one sandbox state directory."""

    root: Path

    @property
    def config(self) -> Path:
        """Settings of the running daemon, re-read when the file changes."""
        return self.root / "config.json"

    @property
    def state(self) -> Path:
        """Droplets, keys, tags and actions."""
        return self.root / "state.json"

    @property
    def token(self) -> Path:
        """The API token (mode 0600)."""
        return self.root / "token"

    @property
    def server(self) -> Path:
        """Pid and URL of the running daemon."""
        return self.root / "server.json"

    @property
    def server_log(self) -> Path:
        """Standard output and error of the daemon."""
        return self.root / "server.log"

    @property
    def requests(self) -> Path:
        """The request log, one JSON object a line."""
        return self.root / "requests.jsonl"

    @property
    def hosts(self) -> Path:
        """One directory per droplet host."""
        return self.root / "hosts"

    def host(self, droplet_id: int) -> Path:
        """The directory of one droplet's host."""
        return self.hosts / f"droplet-{droplet_id}"


def files_of(settings: SandboxSettings) -> SandboxFiles:
    """The files of the sandbox these settings describe, with an absolute root."""
    return SandboxFiles(Path(os.path.abspath(settings.state_dir)))


class _Record(BaseModel):
    """A JSON file's model; its validator is built when a file is first read, not on import."""

    model_config = ConfigDict(defer_build=True)


class KeyRecord(_Record):
    """An SSH public key of the account."""

    id: int
    name: str
    public_key: str
    fingerprint: str


class ActionRecord(_Record):
    """An action on a droplet (create, power_off, ...)."""

    id: int
    type: str
    status: Literal["in-progress", "completed", "errored"] = "in-progress"
    started_at: str
    completed_at: str | None = None
    resource_id: int
    region_slug: str


class PrivateAddress(_Record):
    """A droplet's address on its VPC network."""

    address: str
    netmask: str


class DropletRecord(_Record):
    """A droplet as the account sees it, plus where its host lives.

    ``private`` is None for a droplet without a VPC address (made before the sandbox had
    them, or by a ``no_private_address`` fault).
    """

    id: int
    name: str
    region: str
    size: str
    image: str
    tags: list[str] = []
    ssh_key_ids: list[int] = []
    user_data: str | None = None
    features: list[str] = []
    vpc_uuid: str
    status: Literal["new", "active", "off"] = "new"
    locked: bool = False
    created_at: str
    boot_at: float
    address: str
    netmask: str
    gateway: str
    private: PrivateAddress | None = None
    host_pid: int | None = None
    destroy_at: float | None = None

    def visible(self, now: float) -> bool:
        """Whether the API still lists this droplet (not destroyed, or still lingering)."""
        return self.destroy_at is None or self.destroy_at > now


class SandboxState(_Record):
    """Everything the emulated account holds."""

    next_droplet_id: int = 500_000_001
    next_action_id: int = 900_000_001
    next_key_id: int = 40_000_001
    droplets: list[DropletRecord] = []
    keys: list[KeyRecord] = []
    tags: list[str] = []
    actions: list[ActionRecord] = []


def load_state(files: SandboxFiles) -> SandboxState:
    """The saved state, or an empty account when there is none yet."""
    try:
        text = files.state.read_text(encoding="utf-8")
    except FileNotFoundError:
        return SandboxState()
    try:
        return SandboxState.model_validate_json(text)
    except ValidationError as exc:
        raise SandboxError(
            f"{files.state} is not a sandbox state file ({exc.error_count()} errors); "
            "stop the sandbox and delete the state directory to start afresh"
        ) from exc


def save_state(files: SandboxFiles, state: SandboxState) -> None:
    """Write the state atomically."""
    write_atomically(files.state, state.model_dump_json(indent=1))


def write_config(files: SandboxFiles, settings: SandboxSettings) -> None:
    """Write the settings a daemon reads (and re-reads when they change)."""
    write_atomically(files.config, settings.model_dump_json(indent=1))


def read_config(files: SandboxFiles) -> SandboxSettings:
    """The settings in ``config.json``."""
    try:
        return SandboxSettings.model_validate_json(files.config.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SandboxError(
            f"{files.config} is missing; start the sandbox with control.start"
        ) from exc
    except ValidationError as exc:
        raise SandboxError(f"{files.config} is not valid sandbox settings: {exc}") from exc


class ConfigWatcher:
    """The current settings, re-read from ``config.json`` whenever the file changes."""

    def __init__(self, files: SandboxFiles) -> None:
        self._files = files
        self._lock = threading.Lock()
        self._settings = read_config(files)
        self._text = self._read()

    def _read(self) -> str | None:
        # The file is small: comparing its text is cheaper to get right than stat signatures
        # (inode numbers are reused and mtimes are coarse).
        try:
            return self._files.config.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def current(self) -> SandboxSettings:
        """The settings, reloaded first if the file changed; a broken file keeps the old ones."""
        with self._lock:
            text = self._read()
            if text is not None and text != self._text:
                self._text = text
                try:
                    self._settings = read_config(self._files)
                    log.info("reloaded %s", self._files.config)
                except SandboxError as exc:
                    log.error("keeping the previous settings: %s", exc)
            return self._settings


def ensure_token(files: SandboxFiles) -> str:
    """The API token, generated (mode 0600) the first time."""
    files.root.mkdir(parents=True, exist_ok=True)
    token = "dop_v1_" + secrets.token_hex(32)
    try:
        fd = os.open(files.token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_token(files)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


def read_token(files: SandboxFiles) -> str:
    """The API token written by :func:`ensure_token`."""
    try:
        return files.token.read_text(encoding="utf-8").strip()
    except FileNotFoundError as exc:
        raise SandboxError(f"{files.token} is missing; the sandbox was never started") from exc


class ServerInfo(_Record):
    """Where the running daemon is: written once it listens, removed when it exits."""

    pid: int
    api_url: str


def read_server_info(files: SandboxFiles) -> ServerInfo | None:
    """The daemon's pid and URL, or None when no daemon wrote them."""
    try:
        return ServerInfo.model_validate_json(files.server.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValidationError):
        return None


class RequestRecord(_Record):
    """One API request as the emulator answered it."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    status: int


class RequestLog:
    """Appends requests to ``requests.jsonl``; one line per request, written whole."""

    def __init__(self, files: SandboxFiles) -> None:
        self._path = files.requests
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        """Add one request to the log."""
        line = record.model_dump_json() + "\n"
        with self._lock, self._path.open("a", encoding="utf-8") as handle:
            handle.write(line)


def read_request_log(files: SandboxFiles) -> list[RequestRecord]:
    """Every logged request, oldest first."""
    try:
        lines = files.requests.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [RequestRecord.model_validate(json.loads(line)) for line in lines if line.strip()]
