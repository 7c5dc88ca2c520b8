from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import SandboxError
from orchestrator.sandbox.hosts import HostSpec, host_command, sshd_config, write_host_files

SPEC = HostSpec(Path("/var/lib/sb/hosts/droplet-7"), "127.77.0.2", 22, "KEY", ("ssh-ed25519 AAAA",))


def test_sshd_config() -> None:
    assert sshd_config(SPEC).splitlines() == [
        "ListenAddress 127.77.0.2:22",
        'HostKey "/run/sandbox-host/ssh_host_ed25519_key"',
        'AuthorizedKeysFile "/run/sandbox-host/authorized_keys"',
        'PidFile "/run/sandbox-host/sshd.pid"',
        "UsePAM no",
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "Subsystem sftp internal-sftp",
        "PrintMotd no",
    ]


def test_a_shared_toolchain_goes_on_the_path() -> None:
    spec = HostSpec(SPEC.directory, "127.77.0.2", 22, "KEY", path=("/root/py/bin",))

    assert sshd_config(spec).splitlines()[-1] == (
        "SetEnv PATH=/root/py/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    )


def test_host_command() -> None:
    directory = Path("/var/lib/sb/hosts/droplet 7")

    assert host_command(HostSpec(directory, "127.77.0.2", 22, "KEY")) == [
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
        "mount --bind '/var/lib/sb/hosts/droplet 7' /run/sandbox-host"
        " && mount --rbind '/var/lib/sb/hosts/droplet 7/root' /root"
        " && mount --rbind '/var/lib/sb/hosts/droplet 7/tmp' /tmp"
        " && exec /usr/sbin/sshd -D -e -f /run/sandbox-host/sshd_config",
    ]


def test_host_command_mounts_shared_directories_first() -> None:
    spec = HostSpec(SPEC.directory, "127.77.0.2", 22, "KEY", shared_hidden=(Path("/root/py"),))

    assert host_command(spec)[-1].split(" && ")[:2] == [
        "mount --bind -o ro /root/py /var/lib/sb/hosts/droplet-7/root/py",
        "mount --bind /var/lib/sb/hosts/droplet-7 /run/sandbox-host",
    ]


def test_host_directories_must_be_absolute() -> None:
    with pytest.raises(SandboxError):
        write_host_files(HostSpec(Path("relative/host"), "127.77.0.2", 22, "KEY"))
