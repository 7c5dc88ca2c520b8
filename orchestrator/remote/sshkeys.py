"""Ephemeral SSH key pairs: a fresh host key per droplet, a fresh client key per run."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import paramiko


@dataclass(frozen=True)
class KeyPair:
    """An ed25519 key pair held in memory; ``private_openssh`` is never logged."""

    private_openssh: str = field(repr=False)
    public_line: str

    def pkey(self) -> paramiko.PKey:
        """The private key as a paramiko key, for authenticating a client."""
        # paramiko and cryptography load when a key is used, as in remote.fleet.connect.
        import paramiko

        return paramiko.Ed25519Key.from_private_key(io.StringIO(self.private_openssh))


def generate_keypair(comment: str = "") -> KeyPair:
    """Generate a new ed25519 key pair in OpenSSH formats."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    private_text = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public_text = (
        private.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    if comment:
        public_text = f"{public_text} {comment}"
    return KeyPair(private_openssh=private_text, public_line=public_text)


def public_key_from_line(line: str) -> paramiko.PKey:
    """Parse a known_hosts-style public key line (``ssh-ed25519 AAAA...``)."""
    import paramiko

    parts = line.split()
    if len(parts) < 2:
        raise ValueError(f"not a public key line: {line!r}")
    return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))


def known_hosts_name(address: str, port: int) -> str:
    """The name a host key is filed under in known_hosts for ``address:port``."""
    return address if port == 22 else f"[{address}]:{port}"
