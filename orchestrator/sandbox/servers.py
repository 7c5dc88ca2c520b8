"""Sandbox servers: real Debian systems booted with systemd-nspawn, for deploys to land on.

Each server is a root extracted from the cached image (:mod:`orchestrator.sandbox.serverimage`)
and booted as::

    sh -c 'echo $$ > CGROUP/cgroup.procs ...; exec systemd-nspawn -D ROOT --register=no \
        --keep-unit --boot --machine=NAME-HASH --hostname=NAME ...'

with systemd as its PID 1. It shares this machine's network namespace (no
``--private-network``; nspawn then withholds CAP_NET_ADMIN), so before boot its root is
made to listen on its own loopback address only: sshd's ``ListenAddress`` is
``address:port``, ``/etc/listen-address`` tells services which address to bind, and units
that would listen elsewhere or reach out (networkd, resolved, timesyncd, socket-activated
ssh, apt's timers) and the gettys are masked. Its apt has no sources: it sees only what a
deploy writes.

PID 1 of this machine is not systemd, so ``--keep-unit`` makes nspawn use the cgroup it is
started in as the container's. Each server is therefore started in its own cgroup,
``relorch/<machine>`` in the ``name=systemd`` and unified hierarchies: in the shared root
cgroup, the systemd of one server would manage (and stop) the units of another. That cgroup
also lists every process of the server, nspawn included, for any process to find.

Everything lives in ``<state_dir>/servers/<name>``: ``root``, the host key, ``nspawn.log``
and ``server.json`` (pid, address, port). A running server outlives the command that booted
it, so the dpkg state a deploy leaves is seen by the next command; it counts as running while
its nspawn lives and its sshd answers on the recorded address. Powering off sends SIGTERM to
nspawn, which halts the container cleanly, then deletes the root; the host key stays, as the
repo server's does, so a client's pinned key stays right. One client key
(``servers/client_key``) logs in to every server as root.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from orchestrator.config.sandbox_settings import LOOPBACK, SandboxSettings
from orchestrator.config.schema import LOGIN_PATTERN
from orchestrator.engine.waiting import waiting_for
from orchestrator.errors import SandboxError
from orchestrator.sandbox import processes, serverimage
from orchestrator.sandbox.keys import generate_host_key, public_of
from orchestrator.sandbox.state import files_of

DIRECTORY = "servers"
CLIENT_KEY = "client_key"
HOST_KEY = "ssh_host_ed25519_key"
RECORD = "server.json"
LOG = "nspawn.log"
USER = "root"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
LOGIN = re.compile(LOGIN_PATTERN)
# The first uid of the logins a server gets besides root, as Debian's adduser numbers them.
FIRST_UID = 1000
# What one server's systemd and Docker take of the kernel's per-user inotify instances
# (measured: 56 for 8 servers), and what this machine's own services keep.
INOTIFY_PER_SERVER = 8
INOTIFY_SPARE = 32
INOTIFY_LIMIT = Path("/proc/sys/fs/inotify/max_user_instances")
# Every server's sudo logs what it runs as root here, for whoever checks a deploy.
SUDO_LOG = "/var/log/sudo.log"
# A machine name is NAME-<8 hex> and must stay a valid hostname (64 characters at most).
MAX_NAME = 48
BOOT_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
DELETE_ATTEMPTS = 10
DELETE_PAUSE = 0.5
KILL_TIMEOUT = 10.0
CGROUP_PARENT = "relorch"
# nspawn keeps a per-machine directory here on this machine's /run.
PROPAGATE_DIR = Path("/run/systemd/nspawn/propagate")
# What a server's Docker engine is for: building the droplets' images ("build": Debian's
# engine, and a static busybox for images FROM scratch), or running a deploy's containers
# with Compose ("run").
EngineRole = Literal["build", "run"]
ENGINE_PACKAGES: dict[EngineRole, tuple[str, ...]] = {
    "build": ("docker.io", "busybox-static"),
    "run": ("docker.io", "docker-compose"),
}
ENGINE_PORT = 2375
# What an engine needs from nspawn to run containers: runc makes each container's cgroups
# (the hierarchy writable), a session keyring per container (the keyring system calls),
# and Docker sets up the host network's "default sandbox" (CAP_NET_ADMIN, which nspawn
# withholds from a server sharing this machine's network).
RUNNER_OPTIONS = (
    "--bind=/sys/fs/cgroup",
    "--system-call-filter=@keyring",
    "--capability=CAP_NET_ADMIN",
)
ENGINE_SERVER = "image-builder"
ENGINE_TIMEOUT = 60.0
# Units that would listen beyond the server's address, reach out of the sandbox, or only
# make noise on a console nobody reads.
MASKED_UNITS = (
    "console-getty.service", "container-getty@.service", "getty@.service",
    "serial-getty@.service", "getty.target", "ssh.socket",
    "systemd-networkd.service", "systemd-networkd.socket",
    "systemd-networkd-wait-online.service", "systemd-networkd-wait-online@.service",
    "systemd-resolved.service", "systemd-timesyncd.service", "systemd-pstore.service",
    "apt-daily.timer", "apt-daily-upgrade.timer", "fstrim.timer", "e2scrub_all.timer",
    "e2scrub_reap.service",
)  # fmt: skip

# nspawn processes this process started, so stopping one reaps it (no zombie left).
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ServerSpec:
    """A server to boot: its name (also its hostname) and where its sshd listens.

    A server with an ``engine`` also runs Docker (see :func:`engine_config`): one that
    builds listens on its address, port :data:`ENGINE_PORT`; one that runs containers logs
    in to the sandbox registry with ``pull_login`` (registry host, user, password), as a
    real host's administrator would with ``docker login``. ``files`` are written into its
    root before it boots (path in the root, text): what its administrator would have put
    there, such as a Compose project or sudoers lines. ``users`` are logins besides root,
    each with the sandbox's client key.
    """

    name: str
    address: str
    port: int = 22
    engine: EngineRole | None = None
    pull_login: tuple[str, str, str] | None = field(default=None, repr=False)
    files: tuple[tuple[str, str], ...] = ()
    users: tuple[str, ...] = ()

    @property
    def setup(self) -> str:
        """A digest of how the server is set up beyond its address: a change boots it afresh."""
        text = json.dumps([self.engine, self.pull_login, self.files, self.users])
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def packages(self) -> tuple[str, ...]:
        """The Debian packages of its image."""
        extra = ENGINE_PACKAGES[self.engine] if self.engine is not None else ()
        return (*serverimage.PACKAGES, *extra)


@dataclass(frozen=True)
class ServerAccess:
    """How a client reaches a running server: address, pinned host key and client key."""

    name: str
    address: str
    port: int
    user: str
    host_key: str
    identity_file: Path


def _check_spec(spec: ServerSpec) -> None:
    if not NAME.fullmatch(spec.name) or len(spec.name) > MAX_NAME:
        raise SandboxError(
            f"server name {spec.name!r} must match {NAME.pattern} and have at most "
            f"{MAX_NAME} characters"
        )
    try:
        address = ipaddress.IPv4Address(spec.address)
    except ValueError as exc:
        raise SandboxError(
            f"server {spec.name}: address {spec.address!r} is not an IPv4 address in {LOOPBACK}"
        ) from exc
    if address not in LOOPBACK:
        raise SandboxError(
            f"server {spec.name}: address {spec.address} is outside {LOOPBACK}; the sandbox "
            "stays local"
        )
    if not 1 <= spec.port <= 65535:
        raise SandboxError(f"server {spec.name}: port {spec.port} is not a TCP port")
    for user in spec.users:
        if not LOGIN.fullmatch(user) or user == USER:
            raise SandboxError(f"server {spec.name}: {user!r} is not a login to add")


def _check_specs(specs: Sequence[ServerSpec]) -> None:
    for spec in specs:
        _check_spec(spec)
    names = [spec.name for spec in specs]
    endpoints = [(spec.address, spec.port) for spec in specs]
    if len(set(names)) != len(names):
        raise SandboxError(f"server names must be unique: {', '.join(names)}")
    if len(set(endpoints)) != len(endpoints):
        raise SandboxError("two servers would listen on the same address and port")


def _base(settings: SandboxSettings) -> Path:
    return files_of(settings).root / DIRECTORY


def server_root(settings: SandboxSettings, name: str) -> Path:
    """A server's root directory as seen from outside."""
    if not NAME.fullmatch(name):
        raise SandboxError(f"server name {name!r} must match {NAME.pattern}")
    return _base(settings) / name / "root"


def _machine(directory: Path) -> str:
    """The nspawn machine name: the server's name made unique to its state directory."""
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:8]
    return f"{directory.name}-{digest}"


@contextlib.contextmanager
def _locked(base: Path) -> Iterator[None]:
    """Serialize booting and stopping across processes using the same state directory."""
    base.mkdir(parents=True, exist_ok=True)
    with (base / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _create_secret(path: Path) -> str:
    """A private key at ``path``, generated (mode 0600) the first time."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8")
    key = generate_host_key()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.unlink(missing_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def sshd_config(spec: ServerSpec) -> str:
    """The server's sshd_config: its address only, its host key, root by key only."""
    return "\n".join(
        [
            f"ListenAddress {spec.address}:{spec.port}",
            f"HostKey /etc/ssh/{HOST_KEY}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "UsePAM yes",
            "PrintMotd no",
            "AcceptEnv LANG LC_*",
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def engine_config(spec: ServerSpec) -> dict[str, str]:
    """The files that keep a server's Docker engine to its role, by path in its root.

    No bridge, no iptables rules, no forwarding: the server shares this machine's network,
    and Docker's default bridge would take 172.17.0.0/16; a container uses the host's
    network, so it listens on the server's loopback address. containerd's CRI plugin
    (which would listen on 127.0.0.1) is off.

    An engine that builds listens on the server's own address (and its unix socket),
    nowhere else, and never runs a container: its default runtime is ``/bin/false``, so a
    build's ``RUN`` step fails and only images made of files (``FROM scratch``, ``COPY``)
    build. A droplet's build is untrusted; so is what it would run. An engine that runs
    a deploy's containers listens on its unix socket only. Its containers' processes live
    in the server's PID namespace, so they end with it.
    """
    daemon: dict[str, object] = {
        "bridge": "none", "iptables": False, "ip6tables": False, "ip-forward": False,
        "ip-masq": False, "userland-proxy": False,
    }  # fmt: skip
    listen = "-H fd://"
    files: dict[str, str] = {}
    if spec.engine == "build":
        daemon |= {"default-runtime": "none", "runtimes": {"none": {"path": "/bin/false"}}}
        listen += f" -H tcp://{spec.address}:{ENGINE_PORT}"
    if spec.pull_login is not None:
        registry, user, password = spec.pull_login
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        files["root/.docker/config.json"] = json.dumps({"auths": {registry: {"auth": auth}}})
    dockerd = f"/usr/sbin/dockerd {listen} --containerd=/run/containerd/containerd.sock"
    return files | {
        "etc/docker/daemon.json": json.dumps(daemon, indent=2) + "\n",
        "etc/systemd/system/docker.service.d/sandbox.conf": (
            f"[Service]\nExecStart=\nExecStart={dockerd}\n"
        ),
        "etc/containerd/config.toml": (
            'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        ),
    }


def prepare_root(root: Path, spec: ServerSpec, host_key: str, client_public: str) -> None:
    """Configure a freshly extracted root for ``spec`` (see the module docstring)."""
    etc = root / "etc"
    (etc / "apt" / "sources.list").unlink(missing_ok=True)
    sources = etc / "apt" / "sources.list.d"
    for entry in sources.iterdir() if sources.is_dir() else ():
        entry.unlink()
    ssh = etc / "ssh"
    for old in ssh.glob("ssh_host_*"):
        old.unlink()
    _write(ssh / HOST_KEY, host_key, 0o600)
    _write(ssh / f"{HOST_KEY}.pub", public_of(host_key) + "\n")
    _write(ssh / "sshd_config", sshd_config(spec))
    dot_ssh = root / "root" / ".ssh"
    dot_ssh.mkdir(mode=0o700, exist_ok=True)
    _write(dot_ssh / "authorized_keys", client_public + "\n", 0o600)
    _write(etc / "listen-address", spec.address + "\n")
    _write(etc / "hostname", spec.name + "\n")
    _write(etc / "hosts", f"127.0.0.1 localhost\n{spec.address} {spec.name}\n")
    units = etc / "systemd" / "system"
    for unit in MASKED_UNITS:
        (units / unit).unlink(missing_ok=True)
        (units / unit).symlink_to("/dev/null")
    for uid, user in enumerate(spec.users, start=FIRST_UID):
        _add_login(root, user, uid, client_public)
    sudo_log = f"Defaults logfile={SUDO_LOG}, loglinelen=0\n"
    placed = {"etc/sudoers.d/sandbox-log": sudo_log} | dict(spec.files)
    if spec.engine is not None:
        placed |= engine_config(spec)
    for path, text in placed.items():
        if path.startswith("/") or ".." in path.split("/"):
            raise SandboxError(f"server {spec.name}: {path!r} is not a path inside its root")
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        _write(root / path, text, _mode(path))


def _mode(path: str) -> int:
    if path.startswith("root/"):
        return 0o600
    # sudo reads only what no one but root may change; visudo makes them 0440.
    return 0o440 if path.startswith("etc/sudoers.d/") else 0o644


def _add_login(root: Path, user: str, uid: int, client_public: str) -> None:
    """Add ``user`` as adduser would, with no password: it logs in with the client key."""
    etc = root / "etc"
    for name, line in (
        ("passwd", f"{user}:x:{uid}:{uid}::/home/{user}:/bin/sh"),
        ("group", f"{user}:x:{uid}:"),
        ("shadow", f"{user}:*:19700:0:99999:7:::"),
    ):
        with (etc / name).open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    home = root / "home" / user
    dot_ssh = home / ".ssh"
    dot_ssh.mkdir(parents=True, mode=0o700)
    _write(dot_ssh / "authorized_keys", client_public + "\n", 0o600)
    for path in (home, dot_ssh, dot_ssh / "authorized_keys"):
        os.chown(path, uid, uid)


def _cgroup_mounts() -> list[Path]:
    """The cgroup hierarchies nspawn uses: the unified one and v1's ``name=systemd``."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, tail = line.partition(" - ")
        fstype, _source, options = [*tail.split(" "), "", ""][:3]
        point = Path(fields.split(" ")[4].replace("\\040", " "))
        if fstype == "cgroup2" or (fstype == "cgroup" and "name=systemd" in options.split(",")):
            mounts.append(point)
    return mounts


def _cgroups(directory: Path) -> list[Path]:
    return [mount / CGROUP_PARENT / _machine(directory) for mount in _cgroup_mounts()]


def boot_command(spec: ServerSpec, directory: Path) -> list[str]:
    """The command that boots the server in its own cgroups (see the module docstring)."""
    machine = _machine(directory)
    cgroups = _cgroups(directory)
    if not cgroups:
        raise SandboxError("no cgroup hierarchy is mounted: systemd-nspawn cannot boot servers")
    joins = " && ".join(f"echo $$ > {cgroup / 'cgroup.procs'}" for cgroup in cgroups)
    nspawn = " ".join(
        [
            "exec systemd-nspawn",
            f"--directory={directory / 'root'}",
            "--register=no",
            "--keep-unit",
            "--boot",
            f"--machine={machine}",
            f"--hostname={spec.name}",
            "--console=passive",
            "--link-journal=no",
            *(RUNNER_OPTIONS if spec.engine == "run" else ()),
        ]
    )
    return ["sh", "-c", f"set -e; {joins}; {nspawn}"]


def _sshd_answers(address: str, port: int) -> bool:
    """Whether an SSH server greets on ``address:port``."""
    try:
        with socket.create_connection((address, port), timeout=1) as sock:
            sock.settimeout(2)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _read_record(directory: Path) -> dict[str, object] | None:
    try:
        record = json.loads((directory / RECORD).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _nspawn_pid(directory: Path) -> int | None:
    """The live nspawn of the server in ``directory``, checked by its command line."""
    record = _read_record(directory) or {}
    pid = record.get("pid")
    if not isinstance(pid, int) or not processes.is_alive(pid):
        return None
    command = processes.cmdline(pid)
    marker = f"--directory={directory / 'root'} "
    return pid if command.startswith("systemd-nspawn ") and marker in command else None


def _is_running(directory: Path, spec: ServerSpec) -> bool:
    record = _read_record(directory) or {}
    return (
        record.get("address") == spec.address
        and record.get("port") == spec.port
        and record.get("engine") == spec.engine
        and record.get("setup") == spec.setup
        and (directory / "root").is_dir()
        and _nspawn_pid(directory) is not None
        and _sshd_answers(spec.address, spec.port)
    )


def _cgroup_tree(cgroup: Path) -> list[Path]:
    """``cgroup`` and every cgroup below it, deepest first; none once it is gone.

    A stopping server's systemd removes its own sub-cgroups while they are walked:
    ``os.walk`` passes over a directory that vanished, where ``Path.rglob`` raises.
    """
    return [Path(top) for top, _children, _files in os.walk(cgroup, topdown=False)]


def _pids_of(directory: Path) -> list[int]:
    """Live processes of one server: its cgroups' members and its nspawn."""
    pids: set[int] = set()
    for cgroup in _cgroups(directory):
        for member in _cgroup_tree(cgroup):
            with contextlib.suppress(OSError):
                pids.update(int(line) for line in (member / "cgroup.procs").read_text().split())
    nspawn = _nspawn_pid(directory)
    if nspawn is not None:
        pids.add(nspawn)
    return sorted(pid for pid in pids if processes.is_alive(pid))


def _server_directories(settings: SandboxSettings) -> list[Path]:
    base = _base(settings)
    if not base.is_dir():
        return []
    return sorted(
        entry
        for entry in base.iterdir()
        if NAME.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink()
    )


def server_pids(settings: SandboxSettings, name: str) -> list[int]:
    """Pids of one server's processes still alive (its nspawn and what runs inside)."""
    return _pids_of(server_root(settings, name).parent)


def server_processes(settings: SandboxSettings) -> list[int]:
    """Pids of every server's processes still alive (nspawn and what runs inside)."""
    return sorted(pid for directory in _server_directories(settings) for pid in _pids_of(directory))


def _log_tail(directory: Path) -> str:
    try:
        lines = (directory / LOG).read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return "(no nspawn.log)"
    return " | ".join(lines[-8:]) or "(empty nspawn.log)"


def _remove_cgroups(directory: Path) -> None:
    for cgroup in _cgroups(directory):
        # A cgroup directory goes with rmdir only, and only once its children are gone.
        for member in _cgroup_tree(cgroup):
            with contextlib.suppress(OSError):
                member.rmdir()
        # Shared by every server: it goes with the last one.
        with contextlib.suppress(OSError):
            cgroup.parent.rmdir()


def _mounts_under(path: Path) -> list[str]:
    prefix = f"{path}/"
    points = [
        line.split(" ")[4].replace("\\040", " ")
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    ]
    return [point for point in points if point == str(path) or point.startswith(prefix)]


def _delete_root(directory: Path) -> None:
    root = directory / "root"
    if root.is_symlink():
        root.unlink()
        return
    # A container's processes die with the server's PID namespace, just after nspawn:
    # until they have, a file they held may come back, or a directory not be empty yet.
    for attempt in range(DELETE_ATTEMPTS):
        if not root.exists():
            return
        # nspawn mounts in its own namespace; anything seen here was not meant to outlive it.
        for point in sorted(_mounts_under(root), key=len, reverse=True):
            subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)
        left = _mounts_under(root)
        try:
            if left:
                raise SandboxError(f"server root {root} still has mounts {left}; not deleting it")
            # rmtree removes symlinks inside the root and never follows them.
            shutil.rmtree(root)
        except (OSError, SandboxError):
            if attempt == DELETE_ATTEMPTS - 1:
                raise
            time.sleep(DELETE_PAUSE)


def _reap(pid: int) -> None:
    child = _children.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(0)
    processes.reap(pid)


def _power_off(directory: Path) -> bool:
    """Halt the server in ``directory`` and delete its root; whether anything was there."""
    nspawn = _nspawn_pid(directory)
    found = nspawn is not None or bool(_pids_of(directory)) or (directory / "root").exists()
    if nspawn is not None:
        # SIGTERM makes nspawn ask the container's systemd to halt, as a power button would.
        processes.kill(nspawn, signal.SIGTERM)
        if processes.wait_gone([nspawn], STOP_TIMEOUT):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(nspawn, signal.SIGKILL)
    left = _pids_of(directory)
    for pid in left:
        processes.kill(pid)
    left = processes.wait_gone(left, KILL_TIMEOUT)
    if nspawn is not None:
        _reap(nspawn)
    if left:
        raise SandboxError(f"processes {left} of server {directory.name} survived SIGKILL")
    _remove_cgroups(directory)
    propagate = PROPAGATE_DIR / _machine(directory)
    if propagate.is_dir() and not propagate.is_symlink() and not _mounts_under(propagate):
        shutil.rmtree(propagate, ignore_errors=True)
    _delete_root(directory)
    (directory / RECORD).unlink(missing_ok=True)
    return found


def _boot(spec: ServerSpec, directory: Path, image: Path, client_public: str) -> None:
    _power_off(directory)
    if processes.listening(spec.address, spec.port):
        raise SandboxError(
            f"server {spec.name}: {spec.address}:{spec.port} is already taken (another "
            "sandbox?): stop what listens there, or give the server another address"
        )
    directory.mkdir(parents=True, exist_ok=True)
    host_key = _create_secret(directory / HOST_KEY)
    serverimage.extract(image, directory / "root")
    prepare_root(directory / "root", spec, host_key, client_public)
    for cgroup in _cgroups(directory):
        cgroup.mkdir(parents=True, exist_ok=True)
    with (directory / LOG).open("ab") as log:
        process = subprocess.Popen(
            boot_command(spec, directory),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=processes.clean_environment(),
            # Its own session: a Ctrl-C meant for the caller must not power servers off.
            start_new_session=True,
        )
    _children[process.pid] = process
    record = {
        "pid": process.pid, "address": spec.address, "port": spec.port, "engine": spec.engine,
        "setup": spec.setup,
    }  # fmt: skip
    _write(directory / RECORD, json.dumps(record) + "\n")
    processes.wait_until(
        lambda: process.poll() is not None or _sshd_answers(spec.address, spec.port),
        BOOT_TIMEOUT,
        interval=0.1,
    )
    if process.poll() is not None or not _sshd_answers(spec.address, spec.port):
        status = process.poll()
        _power_off(directory)
        state = f"exited with status {status}" if status is not None else "still booting"
        raise SandboxError(
            f"server {spec.name} ({state}) did not answer SSH on {spec.address}:{spec.port} "
            f"within {BOOT_TIMEOUT:g}s; {directory / LOG} ends with: {_log_tail(directory)}"
        )


def _access(spec: ServerSpec, directory: Path, identity_file: Path) -> ServerAccess:
    host_key = (directory / HOST_KEY).read_text(encoding="utf-8")
    return ServerAccess(
        name=spec.name,
        address=spec.address,
        port=spec.port,
        user=USER,
        host_key=public_of(host_key),
        identity_file=identity_file,
    )


def _check_inotify(servers: int) -> None:
    """SandboxError unless the kernel lets this many servers' systemd watch their files.

    Each takes about :data:`INOTIFY_PER_SERVER` inotify instances, and the limit is per
    user: past it, a server's systemd cannot start ("Too many open files").
    """
    limit = int(INOTIFY_LIMIT.read_text())
    needed = servers * INOTIFY_PER_SERVER + INOTIFY_SPARE
    if limit < needed:
        raise SandboxError(
            f"{servers} sandbox servers need about {needed} inotify instances, and "
            f"fs.inotify.max_user_instances is {limit}: raise it (sysctl -w "
            "fs.inotify.max_user_instances=1024, as scripts/setup.sh does)"
        )


def ensure_servers(
    settings: SandboxSettings, specs: Sequence[ServerSpec]
) -> dict[str, ServerAccess]:
    """Boot every spec'd server that is not running (in parallel), keep running ones; access for each.

    A running server whose address or port changed is powered off and booted afresh.
    SandboxError names every server that did not come up.
    """
    _check_specs(specs)
    base = _base(settings)
    with _locked(base):
        identity_file = base / CLIENT_KEY
        client_public = public_of(_create_secret(identity_file))
        # Each check greets the server's sshd: all at once, as the servers are many.
        with ThreadPoolExecutor(max_workers=max(1, min(32, len(specs)))) as pool:
            running = list(pool.map(lambda spec: _is_running(base / spec.name, spec), specs))
        to_boot = [spec for spec, up in zip(specs, running, strict=True) if not up]
        _check_inotify(len(_server_directories(settings)) + len(to_boot))
        if to_boot:
            images = {
                packages: serverimage.ensure_image(packages=packages)
                for packages in {spec.packages for spec in to_boot}
            }
            names = ", ".join(spec.name for spec in to_boot)
            with (
                waiting_for(f"booting sandbox server(s) {names} (systemd, then sshd)"),
                ThreadPoolExecutor(max_workers=len(to_boot)) as pool,
            ):
                futures = {
                    spec.name: pool.submit(
                        _boot, spec, base / spec.name, images[spec.packages], client_public
                    )
                    for spec in to_boot
                }
            failures = [str(error) for future in futures.values() if (error := future.exception())]
            if failures:
                raise SandboxError("; ".join(failures))
        return {spec.name: _access(spec, base / spec.name, identity_file) for spec in specs}


def engine_url(settings: SandboxSettings) -> str:
    """The DOCKER_HOST of the sandbox's engine (what droplets are given)."""
    return f"tcp://{settings.engine_address}:{ENGINE_PORT}"


def ensure_engine(settings: SandboxSettings) -> None:
    """Boot the server whose Docker engine builds the droplets' images, unless it runs."""
    spec = ServerSpec(ENGINE_SERVER, settings.engine_address, settings.ssh_port, engine="build")
    ensure_servers(settings, [spec])
    if processes.listening(spec.address, ENGINE_PORT):
        return
    with waiting_for(f"waiting for the Docker engine of {ENGINE_SERVER} on {spec.address}"):
        ready = processes.wait_until(
            lambda: processes.listening(spec.address, ENGINE_PORT), ENGINE_TIMEOUT, interval=0.2
        )
    if not ready:
        raise SandboxError(
            f"the sandbox's Docker engine did not listen on {spec.address}:{ENGINE_PORT} "
            f"within {ENGINE_TIMEOUT:g}s (see journalctl -u docker in {server_root(settings, ENGINE_SERVER)})"
        )


def stop_servers(settings: SandboxSettings) -> list[str]:
    """Power every server off and delete its root; the names stopped."""
    directories = _server_directories(settings)
    if not directories:
        return []
    with (
        _locked(_base(settings)),
        waiting_for(f"stopping {len(directories)} sandbox server(s)"),
        ThreadPoolExecutor(max_workers=len(directories)) as pool,
    ):
        found = list(pool.map(_power_off, directories))
    return [directory.name for directory, was in zip(directories, found, strict=True) if was]
