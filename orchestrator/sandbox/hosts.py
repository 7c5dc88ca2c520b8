r"""Sandbox hosts: a real OpenSSH sshd on loopback addresses of its own, one directory per host.

A host runs as::

    unshare --fork --pid --mount-proc --kill-child --mount --propagation private -- \
        sh -c 'mount --rbind DIR/root /root && ... && exec setpriv ... sshd -D -e ...'

so it has a private /root and /tmp while sharing the installed toolchain, and its processes
live in their own pid namespace: killing the ``unshare`` process kills every process of the
host, build jobs included.

A build on a sandbox droplet runs what a tag says, as root, so the host it lands on is
walled in like a container (see :func:`isolation_script`): every mount of this machine is
read-only in its namespace, except its private /root and /tmp and its own directory; the
sandbox's state directory (its token, keys and the other hosts) is covered by an empty
one; /dev holds only the usual character devices, no disk; /proc's system knobs are
read-only; and sshd, with everything it starts, runs without the capabilities that could
undo any of that (mounting, raw devices and sockets, network and kernel administration).

A toolchain installed under /root (pyenv) would vanish behind the private /root: the
directories in ``HostSpec.shared_hidden`` are bind-mounted back, read-only, and
``HostSpec.path`` puts their ``bin`` directories first on the sessions' PATH.

The directory holds everything (config, keys, logs, the private /root and /tmp), so a host
is found, stopped and removed from its directory alone; it must not be under /tmp, which the
host replaces with its own. Nothing here knows about droplets: a repo server host uses the
same functions.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from orchestrator.errors import SandboxError
from orchestrator.sandbox import processes
from orchestrator.sandbox.keys import public_of

SSHD = "/usr/sbin/sshd"
# sshd refuses to start without its privilege separation directory.
PRIVSEP_DIR = Path("/run/sshd")
# Inside its mount namespace a host sees its own directory here, mounted before the private
# /root and /tmp cover the originals: its sshd finds its files wherever the sandbox lives,
# /tmp included.
HOST_VIEW = Path("/run/sandbox-host")
# What a host covers with its own private directories.
HIDDEN = (Path("/root"), Path("/tmp"))
HOST_KEY = "ssh_host_ed25519_key"
# Debian's sshd gives root sessions this PATH.
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# The character devices a build may use; nothing that reaches this machine's disks.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))  # fmt: skip
# /proc entries that change the kernel (sysctl, sysrq, interrupts): read-only in a host.
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")
# Capabilities no build needs and each of which could reach past the host's walls.
DROPPED_CAPABILITIES = (
    "sys_admin", "sys_module", "sys_rawio", "sys_boot", "sys_time", "sys_ptrace",
    "sys_pacct", "sys_tty_config", "mknod", "net_admin", "net_raw", "syslog",
    "mac_admin", "mac_override", "linux_immutable", "audit_control", "bpf", "perfmon",
    "checkpoint_restore", "wake_alarm", "block_suspend", "lease",
)  # fmt: skip


@dataclass(frozen=True)
class HostSpec:
    """What a host needs: its directory, where it listens, its host key and who may log in.

    Its sshd listens on ``address`` and on each of ``extra_addresses`` (a droplet's private
    address), all on ``port``. ``masked`` directories are covered by an empty one inside the
    host (the sandbox's own state: its token, keys and the other hosts' directories).
    ``environment`` is set in every session (with ``path`` first on PATH).
    """

    directory: Path
    address: str
    port: int
    host_key: str
    authorized_keys: tuple[str, ...] = ()
    shared_hidden: tuple[Path, ...] = ()
    path: tuple[str, ...] = ()
    masked: tuple[Path, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    extra_addresses: tuple[str, ...] = ()

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every address the host listens on, ``address`` first."""
        return (self.address, *self.extra_addresses)


def _marker(directory: Path) -> str:
    # The trailing slash keeps droplet-1 from matching droplet-10.
    return f"{directory}/"


def _check_directory(directory: Path) -> None:
    path = PurePosixPath(directory)
    if not path.is_absolute():
        raise SandboxError(f"host directory {directory} must be absolute")


def sshd_config(spec: HostSpec) -> str:
    """The sshd_config of a host: its address, its key, its files; root logs in by key only."""
    directory = HOST_VIEW
    # SetEnv overrides the PATH sshd gives sessions; the rest of it is Debian's root PATH.
    settings = [f"PATH={':'.join([*spec.path, ROOT_PATH])}"] if spec.path else []
    settings += [f"{name}={value}" for name, value in spec.environment]
    path = [f"SetEnv {' '.join(settings)}"] if settings else []
    return "\n".join(
        [
            *(f"ListenAddress {address}:{spec.port}" for address in spec.addresses),
            f'HostKey "{directory / HOST_KEY}"',
            f'AuthorizedKeysFile "{directory / "authorized_keys"}"',
            f'PidFile "{directory / "sshd.pid"}"',
            "UsePAM no",
            # The key files live in the sandbox directory, not in a home sshd would vet.
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "Subsystem sftp internal-sftp",
            "PrintMotd no",
            *path,
            "",
        ]
    )


def _shared_target(directory: Path, shared: Path) -> Path:
    for hidden in HIDDEN:
        if hidden in shared.parents:
            return directory / hidden.name / shared.relative_to(hidden)
    raise SandboxError(f"shared directory {shared} is under neither /root nor /tmp")


def isolation_script(spec: HostSpec) -> str:
    """The shell script that walls a host in, then runs its sshd (see the module docstring).

    It runs as root in the host's new mount namespace, so none of its mounts is seen
    outside, and ends in ``exec``: sshd becomes the namespace's first process.
    """
    quoted = shlex.quote
    directory = spec.directory
    # Private directories first: --rbind carries the read-only toolchain mounts along.
    lines = [
        "set -e",
        *(
            f"mount --bind -o ro {quoted(str(shared))} "
            f"{quoted(str(_shared_target(directory, shared)))}"
            for shared in spec.shared_hidden
        ),
        f"mount --bind {quoted(str(directory))} {HOST_VIEW}",
        f"mount --rbind {quoted(str(directory / 'root'))} /root",
        f"mount --rbind {quoted(str(directory / 'tmp'))} /tmp",
        # A masked directory under /root or /tmp is out of sight already.
        *(
            f"if [ -d {quoted(str(masked))} ]; then "
            f"mount -t tmpfs -o size=64k,mode=0755 relorch-masked {quoted(str(masked))}; fi"
            for masked in spec.masked
        ),
        "mount -t tmpfs -o size=256k,mode=0755,nosuid relorch-dev /dev",
        *(f"mknod -m 0666 /dev/{name} c {major} {minor}" for name, major, minor in DEVICES),
        "mkdir /dev/pts /dev/shm",
        "mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts",
        "ln -s pts/ptmx /dev/ptmx",
        "mount -t tmpfs -o mode=1777,nosuid,nodev relorch-shm /dev/shm",
        "ln -s /proc/self/fd /dev/fd",
        *(
            f"ln -s fd/{number} /dev/{name}"
            for number, name in enumerate(("stdin", "stdout", "stderr"))
        ),
        f"for entry in {' '.join(PROC_READ_ONLY)}; do",
        '  if [ -e "/proc/$entry" ]; then',
        '    mount --bind "/proc/$entry" "/proc/$entry"',
        '    mount -o remount,bind,ro "/proc/$entry"',
        "  fi",
        "done",
        # Every other mount of this machine becomes read-only (mountinfo octal-escapes
        # spaces and the like, which printf %b turns back). A mount that is out of sight
        # under a masked directory has no path left to reach it by.
        "awk '{print $5}' /proc/self/mountinfo | while read -r point; do",
        '  point=$(printf "%b" "$point")',
        '  [ -e "$point" ] || continue',
        '  case "$point" in',
        f"    /root|/root/*|/tmp|/tmp/*|{HOST_VIEW}|/proc|/proc/*|/dev/pts|/dev/shm) ;;",
        '    *) mount -o remount,bind,ro "$point" ;;',
        "  esac",
        "done",
        "exec setpriv --bounding-set "
        + ",".join(f"-{capability}" for capability in DROPPED_CAPABILITIES)
        + f" {SSHD} -D -e -f {HOST_VIEW / 'sshd_config'}",
    ]
    return "\n".join(lines)


def host_command(spec: HostSpec) -> list[str]:
    """The command that runs a host's sshd in private mount and pid namespaces."""
    return [
        "unshare",
        "--fork",
        "--pid",
        "--mount-proc",
        "--kill-child",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        isolation_script(spec),
    ]


def existing_host_key(directory: Path) -> str | None:
    """The host key a host used before (kept across reboots), None for a new host."""
    try:
        return (directory / HOST_KEY).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _write(path: Path, text: str, mode: int) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def write_host_files(spec: HostSpec) -> None:
    """Create the host's directory, private /root and /tmp, keys and sshd_config."""
    _check_directory(spec.directory)
    spec.directory.mkdir(parents=True, exist_ok=True)
    (spec.directory / "root").mkdir(mode=0o700, exist_ok=True)
    (spec.directory / "tmp").mkdir(exist_ok=True)
    (spec.directory / "tmp").chmod(0o1777)
    for shared in spec.shared_hidden:
        _shared_target(spec.directory, shared).mkdir(parents=True, exist_ok=True)
    # sshd refuses a private host key that others can read.
    _write(spec.directory / HOST_KEY, spec.host_key, 0o600)
    _write(spec.directory / f"{HOST_KEY}.pub", public_of(spec.host_key) + "\n", 0o644)
    authorized = "".join(f"{key}\n" for key in spec.authorized_keys)
    _write(spec.directory / "authorized_keys", authorized, 0o644)
    _write(spec.directory / "sshd_config", sshd_config(spec), 0o644)


def _log_tail(directory: Path) -> str:
    try:
        lines = (directory / "sshd.log").read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return "(no sshd.log)"
    return " | ".join(lines[-5:]) or "(empty sshd.log)"


def start_host(spec: HostSpec, timeout: float = 10.0) -> int:
    """Start the host and wait until its port accepts TCP on every address; the ``unshare`` pid."""
    taken = [a for a in spec.addresses if processes.listening(a, spec.port)]
    if taken:
        raise SandboxError(
            f"{taken[0]}:{spec.port} is already taken (another sandbox?): stop what "
            "listens there, or give this sandbox other addresses (cloud.sandbox.address_pool, "
            "private_address_pool, repo_server_address, ssh_port)"
        )
    write_host_files(spec)
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    HOST_VIEW.mkdir(mode=0o755, exist_ok=True)
    with (spec.directory / "sshd.log").open("ab") as log:
        process = subprocess.Popen(
            host_command(spec),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=processes.clean_environment(),
            # Its own session: a Ctrl-C meant for the caller must not take the host down.
            start_new_session=True,
        )

    def listening() -> bool:
        return all(processes.listening(a, spec.port) for a in spec.addresses)

    # Done waiting once it listens everywhere, or once it has exited (it never will).
    processes.wait_until(lambda: process.poll() is not None or listening(), timeout)
    if process.poll() is not None or not listening():
        stop_host(spec.directory)
        raise SandboxError(
            f"sshd for {spec.directory} did not listen on "
            f"{', '.join(f'{a}:{spec.port}' for a in spec.addresses)} "
            f"within {timeout:g}s: {_log_tail(spec.directory)}"
        )
    return process.pid


def host_processes(directory: Path) -> list[int]:
    """Live processes of the host(s) under ``directory``: their launchers and namespaces."""
    marker = _marker(directory)
    own_namespace = processes.pid_namespace(os.getpid())
    # The unshare launchers, and the sshd inside; not, say, a `tail -f` of a host's log.
    launched = {
        pid
        for pid in processes.all_pids()
        if marker in (command := processes.cmdline(pid))
        and (command.startswith("unshare ") or processes.pid_namespace(pid) != own_namespace)
    }
    # The sshd and build jobs show no directory on their command line: the pid namespace
    # their launcher created for them gives them away.
    namespaces = {processes.pid_namespace(pid) for pid in launched}
    namespaces |= {processes.children_pid_namespace(pid) for pid in launched}
    namespaces -= {None, own_namespace}
    members = {pid for pid in processes.all_pids() if processes.pid_namespace(pid) in namespaces}
    return sorted(pid for pid in launched | members if processes.is_alive(pid))


def is_running(directory: Path, pid: int) -> bool:
    """Whether ``pid`` is alive and still the launcher of the host in ``directory``."""
    command = processes.cmdline(pid)
    return (
        processes.is_alive(pid) and command.startswith("unshare ") and _marker(directory) in command
    )


def stop_host(directory: Path, timeout: float = 10.0) -> None:
    """Kill every process of the host(s) under ``directory`` and wait until they are gone."""
    pids = host_processes(directory)
    own_namespace = processes.pid_namespace(os.getpid())
    inside = [pid for pid in pids if processes.pid_namespace(pid) != own_namespace]
    # Namespace members first: the waiting unshare reaps its child and exits by itself, so
    # no sshd zombie is left for init to collect.
    for group in (inside, pids):
        for pid in group:
            processes.kill(pid)
        left = processes.wait_gone(group, timeout)
        if left:
            raise SandboxError(f"processes {left} of host {directory} survived SIGKILL")


def destroy_host(directory: Path, timeout: float = 10.0) -> None:
    """Stop the host(s) under ``directory`` and delete the directory."""
    _check_directory(directory)
    stop_host(directory, timeout)
    if directory.exists():
        shutil.rmtree(directory)
