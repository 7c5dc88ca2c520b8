from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import SandboxError
from orchestrator.sandbox.hosts import (
    HostSpec,
    host_command,
    isolation_script,
    sshd_config,
    write_host_files,
)

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


def test_a_droplet_with_a_private_address_listens_on_both() -> None:
    spec = HostSpec(SPEC.directory, "127.77.0.2", 22, "KEY", extra_addresses=("127.75.0.2",))

    assert spec.addresses == ("127.77.0.2", "127.75.0.2")
    assert sshd_config(spec).splitlines()[:3] == [
        "ListenAddress 127.77.0.2:22",
        "ListenAddress 127.75.0.2:22",
        'HostKey "/run/sandbox-host/ssh_host_ed25519_key"',
    ]


def test_a_shared_toolchain_goes_on_the_path() -> None:
    spec = HostSpec(SPEC.directory, "127.77.0.2", 22, "KEY", path=("/root/py/bin",))

    assert sshd_config(spec).splitlines()[-1] == (
        "SetEnv PATH=/root/py/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    )


def test_host_command() -> None:
    directory = Path("/var/lib/sb/hosts/droplet 7")
    spec = HostSpec(directory, "127.77.0.2", 22, "KEY")

    assert host_command(spec) == [
        "unshare", "--fork", "--pid", "--mount-proc", "--kill-child", "--mount",
        "--propagation", "private", "--", "sh", "-c", isolation_script(spec),
    ]  # fmt: skip
    lines = isolation_script(spec).splitlines()
    assert lines[:4] == [
        "set -e",
        "mount --bind '/var/lib/sb/hosts/droplet 7' /run/sandbox-host",
        "mount --rbind '/var/lib/sb/hosts/droplet 7/root' /root",
        "mount --rbind '/var/lib/sb/hosts/droplet 7/tmp' /tmp",
    ]
    assert lines[-1].startswith("exec setpriv --bounding-set -sys_admin,")
    assert lines[-1].endswith(" /usr/sbin/sshd -D -e -f /run/sandbox-host/sshd_config")
    for capability in ("mknod", "net_admin", "net_raw", "sys_rawio", "sys_module"):
        assert f"-{capability}," in lines[-1]


def test_a_host_sees_this_machine_read_only_and_no_disk() -> None:
    script = isolation_script(SPEC)
    assert '    *) mount -o remount,bind,ro "$point" ;;' in script
    # Only its private directories stay writable.
    assert (
        "/root|/root/*|/tmp|/tmp/*|/run/sandbox-host|/proc|/proc/*|/dev/pts|/dev/shm) ;;" in script
    )
    assert "mount -t tmpfs -o size=256k,mode=0755,nosuid relorch-dev /dev" in script
    assert "mknod -m 0666 /dev/null c 1 3" in script and "vda" not in script


def test_host_command_mounts_shared_directories_first_and_masks_last() -> None:
    spec = HostSpec(
        SPEC.directory, "127.77.0.2", 22, "KEY",
        shared_hidden=(Path("/root/py"),), masked=(Path("/var/lib/sb"),),
    )  # fmt: skip
    lines = isolation_script(spec).splitlines()
    assert lines[1:3] == [
        "mount --bind -o ro /root/py /var/lib/sb/hosts/droplet-7/root/py",
        "mount --bind /var/lib/sb/hosts/droplet-7 /run/sandbox-host",
    ]
    assert lines[5] == (
        "if [ -d /var/lib/sb ]; then "
        "mount -t tmpfs -o size=64k,mode=0755 relorch-masked /var/lib/sb; fi"
    )


def test_host_directories_must_be_absolute() -> None:
    with pytest.raises(SandboxError):
        write_host_files(HostSpec(Path("relative/host"), "127.77.0.2", 22, "KEY"))
