"""A login other than root: what runs through sudo, what runs as the user, the sudoers lines."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from orchestrator.commands import deploy as commands
from orchestrator.deploy.hosts import SshShell
from orchestrator.remote import sshexec


def test_root_commands_run_in_one_root_shell_that_never_prompts() -> None:
    assert commands.as_root("a && b > /etc/x") == "sudo -n -- /bin/sh -c 'a && b > /etc/x'"
    assert commands.checked_as_root("dpkg-query -W 'x'") == (
        "sudo -n -- /bin/sh -c : || { echo 'relorch: sudo -n refused to run /bin/sh as root' "
        """>&2; exit 1; }; sudo -n -- /bin/sh -c 'dpkg-query -W '"'"'x'"'"''"""
    )


def test_a_refused_sudo_stops_before_the_command(tmp_path: Any) -> None:
    # The real sh, with a sudo that refuses as sudo -n does where a password is needed.
    (tmp_path / "sudo").write_text("#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n")
    (tmp_path / "sudo").chmod(0o755)
    ran = tmp_path / "ran"
    done = subprocess.run(
        ["sh", "-c", commands.checked_as_root(f"touch {ran}")],
        capture_output=True,
        text=True,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 1 and not ran.exists()
    assert done.stderr.splitlines() == ["sudo: a password is required", commands.ROOT_REFUSED]


def test_the_sudoers_lines_name_each_login() -> None:
    text = commands.sudoers_file("prod", ["deploy", "ops"])
    assert text.splitlines()[-2:] == [
        "deploy ALL=(root) NOPASSWD: /bin/sh",
        "ops ALL=(root) NOPASSWD: /bin/sh",
    ]
    assert all(line.startswith("#") for line in text.splitlines()[:-2])
    assert commands.sudoers_file("dev", []) == (
        "# Every host of dev is reached as root: no sudoers lines are needed.\n"
    )


@pytest.mark.parametrize(
    ("become", "as_user", "sent"),
    [
        (None, False, "apt-get install x"),
        ("sudo", False, "sudo -n -- /bin/sh -c 'apt-get install x'"),
        ("sudo", True, "apt-get install x"),
    ],
)
def test_a_shell_sends_root_commands_through_sudo_when_its_login_becomes_root(
    monkeypatch: pytest.MonkeyPatch, become: Any, as_user: bool, sent: str
) -> None:
    seen: list[str] = []

    def run(connection: Any, command: str, **_: Any) -> int:
        seen.append(command)
        return 0

    monkeypatch.setattr(sshexec, "run", run)
    SshShell(object(), "prod-1", become).run("apt-get install x", timeout=1.0, as_user=as_user)
    assert seen == [sent]
