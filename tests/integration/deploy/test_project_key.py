"""The project key a deploy sends to hosts and verifies the index with: public, always."""

from __future__ import annotations

import subprocess

import pytest

from orchestrator.deploy.index import verified_release
from orchestrator.errors import DeployError, UsageError
from orchestrator.repo.signing import Signer, public_key_only
from tests.integration.conftest import Keyring


def test_a_key_file_with_a_private_block_yields_only_the_public_key(
    keyring: Keyring, signer: Signer
) -> None:
    secret = subprocess.run(
        ["gpg", "--homedir", str(keyring.home), "--batch", "--armor", "--export-secret-keys",
         keyring.key.fingerprint],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "PRIVATE KEY BLOCK" in secret
    sent = public_key_only(keyring.key.public_key + secret, "signing.public_key")
    assert "PRIVATE KEY" not in sent and "PUBLIC KEY BLOCK" in sent
    release = b"Origin: demo\nSuite: stable\n"
    _, inline = signer.sign_release(release)
    assert verified_release(inline, sent, "InRelease").startswith("Origin: demo")


def test_an_index_signed_by_another_key_is_refused(
    keyring: Keyring, wrong_keyring: Keyring, signer: Signer
) -> None:
    _, inline = signer.sign_release(b"Origin: demo\n")
    with pytest.raises(DeployError, match="not signed by the project key"):
        verified_release(inline, wrong_keyring.key.public_key, "InRelease")


def test_a_file_without_a_key_is_bad_input() -> None:
    with pytest.raises(UsageError, match="no OpenPGP public key"):
        public_key_only("hello\n", "signing.public_key")
