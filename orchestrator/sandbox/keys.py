"""SSH keys: DigitalOcean-style fingerprints, public-key checks and host key generation."""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct

from orchestrator.remote.sshkeys import generate_keypair


def _key_blob(public_key: str) -> bytes:
    parts = public_key.split()
    if len(parts) < 2:
        raise ValueError("a public key is 'type base64-blob [comment]'")
    key_type, encoded = parts[0], parts[1]
    try:
        blob = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"the key blob is not base64: {exc}") from exc
    # The blob starts with the key type as a length-prefixed string; a mismatch means garbage.
    if len(blob) < 4:
        raise ValueError("the key blob is too short")
    (length,) = struct.unpack(">I", blob[:4])
    if blob[4 : 4 + length].decode(errors="replace") != key_type:
        raise ValueError(f"the key blob does not hold a {key_type} key")
    return blob


def check_public_key(public_key: str) -> str:
    """The key stripped of surrounding space; ValueError when it is not an OpenSSH public key."""
    _key_blob(public_key)
    return public_key.strip()


def fingerprint(public_key: str) -> str:
    """The MD5 fingerprint of the key blob in colon hex, as DigitalOcean shows it."""
    digest = hashlib.md5(_key_blob(public_key), usedforsecurity=False).hexdigest()
    return ":".join(digest[index : index + 2] for index in range(0, len(digest), 2))


def generate_host_key() -> str:
    """A fresh ed25519 private key in OpenSSH format."""
    return generate_keypair().private_openssh


def public_of(private_key: str) -> str:
    """The OpenSSH public key of an unencrypted OpenSSH private key; ValueError if unreadable."""
    # Imported when a key is read, as in orchestrator.remote.sshkeys: not at start-up.
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_ssh_private_key(private_key.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"not an unencrypted OpenSSH private key: {exc}") from exc
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
