"""Fixtures for integration tests: a private sandbox per test, cleaned up afterwards; gpg
keyrings, nfpm-built packages, HTTP servers on 127.0.0.1 and real apt/dnf/zypper clients.

Keyrings live in short throwaway GNUPGHOMEs whose agents are killed at teardown.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.cli.wiring.sandbox import cloud_client as open_client
from orchestrator.config.inventory import Inventory, load_inventory
from orchestrator.config.repositories import SigningConfig
from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.remote.fleet import HostAccess
from orchestrator.remote.sshkeys import generate_keypair
from orchestrator.repo.gpghomes import wipe_keyring
from orchestrator.repo.signing import GeneratedKey, Signer, generate_key, open_signer
from orchestrator.sandbox import control, hosts
from orchestrator.sandbox.machines import toolchain
from orchestrator.verify.clients import AptClient, DnfClient, ZypperClient
from tests.conftest import free_port, loopback_network, new_test_directory

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "demo"
DEB_ARCHES = ("amd64", "arm64")
RPM_ARCHES = ("x86_64", "aarch64")


@dataclass
class SandboxWorld:
    """A private sandbox and an inventory that uses it."""

    directory: Path
    inventory_path: Path
    data: dict[str, Any]
    sandbox: dict[str, Any]

    @property
    def inventory(self) -> Inventory:
        return load_inventory(self.inventory_path)

    @property
    def settings(self) -> SandboxSettings:
        """The sandbox's settings (also once a test points the inventory elsewhere)."""
        return SandboxSettings.model_validate(self.sandbox)

    def rewrite(self, **sandbox: Any) -> None:
        """Change sandbox settings (faults, limits) in the inventory and the running daemon."""
        self.sandbox.update(sandbox)
        self.inventory_path.write_text(yaml.safe_dump(self.data))
        if control.running(self.settings) is not None:
            control.configure(self.settings)

    def invoke(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run ``invoke ARGS --inventory <this inventory>`` as a user would."""
        return subprocess.run(
            [sys.executable, "-m", "invoke", *args, "--inventory", str(self.inventory_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            check=False,
        )

    def request_count(self) -> int:
        return len(control.request_log(self.settings))

    def assert_no_droplets(self) -> None:
        """No droplet listed, and (just after, as on DigitalOcean) no host process left."""
        assert open_client(self.inventory).list_droplets("relorch") == []
        deadline = time.monotonic() + 10
        while control.droplet_processes(self.settings) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert control.droplet_processes(self.settings) == []


def sandbox_inventory(
    directory: Path, *, servers: bool = False, images: bool = False, python: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sandbox inventory for a private world in ``directory``, and its sandbox settings.

    Its own state, API port, droplet addresses and repo server; with ``servers`` its
    environments too, their servers on a loopback network of their own (without, release
    tests do not deploy: the deploy tests boot servers of their own); with ``images`` its
    image target, registry and Compose environments (without, releases build packages
    only, and deploy them only); with ``python`` the amd64-deb target's Python
    distributions and the index they go to (without, no target builds them).
    """
    data = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
    data["project"]["source"] = str(directory / "source")
    data["cloud"]["boot_timeout"] = 20
    sandbox = {
        "state_dir": str(directory / "sandbox"),
        "api_port": free_port(),
        "address_pool": f"{loopback_network(100, 199)}.0/24",
        # Below every other range a test picks (servers take 127.50-99, standalone hosts
        # 127.100-199, the sandbox tests' repo servers 127.30-69).
        "private_address_pool": f"{loopback_network(10, 29)}.0/24",
        "boot_delay": 0.3,
        # Outside every test's address pools (127.100-199.x.0/24, 127.10-29.x.0/24).
        "repo_server_address": f"{loopback_network(200, 254)}.1",
        "repo_http_port": free_port(),
    }
    services = loopback_network(200, 254)
    sandbox["registry_address"] = f"{services}.2"
    sandbox["engine_address"] = f"{services}.3"
    sandbox["python_index_address"] = f"{services}.4"
    sandbox["python_index_port"] = free_port()
    data["cloud"]["sandbox"] = sandbox
    if python:
        data["python_index"]["url"] = f"http://{services}.4:{sandbox['python_index_port']}"
    else:
        data.pop("python_index")
        for target in data["targets"]:
            if target.pop("python_artifacts", None):
                target["command"] = "./build.sh {{ format }} {{ arch }} {{ version }}"
    if images:
        data["registry"]["url"] = f"http://{sandbox['registry_address']}:5000"
    else:
        data["targets"] = [t for t in data["targets"] if t["format"] != "image"]
        data.pop("registry")
    for target in data.get("publish", []):
        if target.get("host_key") == "sandbox":
            target["host"] = sandbox["repo_server_address"]
            target["url"] = f"http://{sandbox['repo_server_address']}:{sandbox['repo_http_port']}"
    if not servers:
        data.pop("environments", None)
        return data, sandbox
    if not images:
        data["environments"] = [e for e in data["environments"] if e.get("kind") != "compose"]
    # Each world's own workspace: its local tree is signed by its own sandbox key.
    data["workspace"] = str(directory)
    net = loopback_network(50, 99)
    for environment in data["environments"]:
        for host in environment["hosts"]:
            host["address"] = f"{net}.{host['address'].rsplit('.', 1)[1]}"
    return data, sandbox


@contextlib.contextmanager
def world_of(
    directory: Path, data: dict[str, Any], sandbox: dict[str, Any]
) -> Iterator[SandboxWorld]:
    """The world of this inventory (written to ``directory``); stopped and removed after.

    Leaving a sandbox process behind fails the test.
    """
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    world = SandboxWorld(directory, path, data, sandbox)
    try:
        yield world
    finally:
        settings = world.settings
        control.stop(settings)
        leftovers = control.host_processes(settings)
        shutil.rmtree(directory, ignore_errors=True)
        assert leftovers == [], f"sandbox processes left: {leftovers}"


def links() -> set[str]:
    """This machine's network interfaces (a bridge would add one)."""
    output = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    return {line.split(":")[1].strip() for line in output.stdout.splitlines()}


def listeners() -> set[str]:
    """Every address:port something listens on over TCP."""
    output = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True)
    return {line.split()[3] for line in output.stdout.splitlines()}


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a command that must have succeeded (else its output's end)."""
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture
def sandbox_world() -> Iterator[SandboxWorld]:
    directory = new_test_directory()
    with world_of(directory, *sandbox_inventory(directory)) as world:
        yield world


@contextlib.contextmanager
def standalone_host(name: str) -> Iterator[HostAccess]:
    """One sandbox sshd host outside any sandbox, on a random loopback address, as ``name``."""
    directory = new_test_directory() / "host"
    host_key, client_key = generate_keypair(), generate_keypair()
    address = f"{loopback_network(100, 199)}.{random.randint(2, 201)}"
    shared, path = toolchain()
    spec = hosts.HostSpec(
        directory, address, free_port(), host_key.private_openssh, (client_key.public_line,),
        shared, path,
    )  # fmt: skip
    hosts.start_host(spec)
    try:
        yield HostAccess(
            name, address, spec.port, "root", host_key.public_line, client_key=client_key.pkey()
        )
    finally:
        hosts.destroy_host(directory.parent)


@dataclass(frozen=True)
class Keyring:
    """A throwaway GnuPG home and the key generated in it."""

    home: Path
    key: GeneratedKey

    def export(self, directory: Path) -> tuple[Path, Path]:
        """Write the armored and binary public key into ``directory``."""
        armored, binary = directory / "key.asc", directory / "key.gpg"
        armored.write_text(self.key.public_key)
        binary.write_bytes(
            subprocess.run(
                ["gpg", "--homedir", str(self.home), "--export", self.key.fingerprint],
                capture_output=True,
                check=True,
            ).stdout
        )
        return armored, binary


def _keyring(name: str) -> Iterator[Keyring]:
    home = Path(tempfile.mkdtemp(prefix="orc-it-", dir="/tmp"))
    try:
        yield Keyring(home, generate_key(name, f"{name}@example.org", home, key_length=2048))
    finally:
        wipe_keyring(home)


@pytest.fixture(scope="session")
def keyring() -> Iterator[Keyring]:
    """The repository's signing key."""
    yield from _keyring("demo-signing")


@pytest.fixture(scope="session")
def wrong_keyring() -> Iterator[Keyring]:
    """Another key, which clients must not accept for the repository."""
    yield from _keyring("impostor")


@pytest.fixture(scope="session")
def signer(keyring: Keyring) -> Iterator[Signer]:
    """A signer for the repository's key."""
    config = SigningConfig(fingerprint=keyring.key.fingerprint, gnupghome=str(keyring.home))
    with open_signer(config) as opened:
        yield opened


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def serve() -> Iterator[Callable[[Path], str]]:
    """Serve directories over HTTP on 127.0.0.1; every server stops at teardown."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(root: Path) -> str:
        root.mkdir(parents=True, exist_ok=True)
        handler = functools.partial(_QuietHandler, directory=str(root))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def nfpm(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str, str, str], Path]:
    """Build a package with nfpm, once: (version, arch, format, out directory) -> file."""
    work = tmp_path_factory.mktemp("nfpm")
    (work / "hello.txt").write_text("hello from the demo package\n")

    @functools.cache
    def build(version: str, arch: str, packager: str, out: str) -> Path:
        target = work / out
        target.mkdir(exist_ok=True)
        config = work / f"{version}-{arch}.yaml"
        config.write_text(
            f"name: {PROJECT}\narch: {arch}\nplatform: linux\nversion: {version}\n"
            "release: 1\nmaintainer: Demo <demo@example.org>\ndescription: demo package\n"
            f"license: MIT\ncontents:\n  - src: {work / 'hello.txt'}\n"
            f"    dst: /usr/share/{PROJECT}/hello.txt\n"
        )
        before = set(target.iterdir())
        subprocess.run(
            ["nfpm", "package", "-f", str(config), "-p", packager, "-t", str(target)],
            check=True,
            capture_output=True,
        )
        (created,) = set(target.iterdir()) - before
        return created

    return build


def build_set(nfpm: Callable[[str, str, str, str], Path], version: str) -> list[Path]:
    """The deb (amd64, arm64) and rpm (x86_64, aarch64) packages of one version."""
    return [nfpm(version, arch, "deb", version) for arch in DEB_ARCHES] + [
        nfpm(version, arch, "rpm", version) for arch in RPM_ARCHES
    ]


@pytest.fixture
def apt_get(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """apt-get with its own state, cache and sources, trusting only ``signed-by`` keys."""
    return AptClient(tmp_path)


@pytest.fixture
def dnf(tmp_path: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """dnf in a throwaway installroot with only the given .repo file."""
    client = DnfClient(tmp_path, PROJECT)
    yield client
    client.close()


@pytest.fixture
def zypper(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """zypper on a throwaway root whose rpm database trusts only the given key."""
    return ZypperClient(tmp_path / "zypper-root")


CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium(profile: Path, *args: str, window: str = "1280,900") -> str:
    """Run headless Chromium with a fresh profile; return its stdout (e.g. --dump-dom)."""
    # Its own session, so that no renderer, zygote or crash handler outlives the test.
    process = subprocess.Popen(
        [
            "chromium",
            *CHROMIUM_FLAGS,
            f"--window-size={window}",
            f"--user-data-dir={profile}",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=90)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    return output


class Receiver(http.server.ThreadingHTTPServer):
    """Keeps every POST body; answers ``status`` after ``delay`` seconds."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self.delay = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook/SECRET-TOKEN"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        time.sleep(self.server.delay)
        self.server.received.append({"path": self.path, "body": body})
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def http_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 with ``handler``; its base URL (no slash)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def receiving() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1, serving until the block ends."""
    server = Receiver()
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as server:
        yield server
