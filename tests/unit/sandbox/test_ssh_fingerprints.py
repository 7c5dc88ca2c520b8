from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrator.sandbox.keys import check_public_key, fingerprint, generate_host_key, public_of


def test_fingerprint_is_ssh_keygen_md5(tmp_path: Path) -> None:
    public = public_of(generate_host_key())
    (tmp_path / "key.pub").write_text(public + " comment\n")
    expected = subprocess.run(
        ["ssh-keygen", "-l", "-E", "md5", "-f", str(tmp_path / "key.pub")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]

    assert f"MD5:{fingerprint(public + ' comment')}" == expected


def test_generated_host_keys_are_fresh_ed25519() -> None:
    first, second = generate_host_key(), generate_host_key()

    assert first != second
    assert first.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert public_of(first).startswith("ssh-ed25519 AAAA")


@pytest.mark.parametrize(
    "key",
    ["", "ssh-ed25519", "ssh-ed25519 not-base64!", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIA=="],
)
def test_malformed_public_keys(key: str) -> None:
    with pytest.raises(ValueError):
        check_public_key(key)


def test_unreadable_private_key() -> None:
    with pytest.raises(ValueError, match="not an unencrypted OpenSSH private key"):
        public_of("-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----\n")
