"""A signing key that signs nothing (a :class:`~orchestrator.repo.signing.SigningKey`).

Its "signatures" are fixed text, so a tree indexed with it has every file a real tree has,
in the same places, without gpg; real signatures are tested with real clients elsewhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from orchestrator.errors import SigningError

FAKE_KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nfake\n-----END PGP PUBLIC KEY BLOCK-----\n"


class FakeSigner:
    """Signs with a fixed text; ``broken`` makes it fail as a wrong passphrase would."""

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.signed: list[str] = []

    @property
    def fingerprint(self) -> str:
        """A fixed fingerprint."""
        return "F" * 40

    @property
    def public_key(self) -> str:
        """A fixed armored block."""
        return FAKE_KEY

    @property
    def public_key_binary(self) -> bytes:
        """A fixed binary key."""
        return b"fake key"

    def _signature(self, data: bytes) -> bytes:
        if self.broken:
            raise SigningError("gpg could not sign with the fake key (bad passphrase)")
        digest = hashlib.sha256(data).hexdigest()
        self.signed.append(digest)
        return f"-----BEGIN PGP SIGNATURE-----\n\n{digest}\n-----END PGP SIGNATURE-----\n".encode()

    def prove(self) -> None:
        """SigningError when ``broken``."""
        self._signature(b"probe")

    def detach_sign(self, data: bytes) -> bytes:
        """A fixed-text signature of ``data``."""
        return self._signature(data)

    def sign_release(self, release: bytes) -> tuple[bytes, bytes]:
        """``Release.gpg`` and ``InRelease`` of fixed text."""
        signature = self._signature(release)
        return signature, b"-----BEGIN PGP SIGNED MESSAGE-----\n\n" + release + signature

    @contextmanager
    def signing_rpms(self, paths: Sequence[Path]) -> Iterator[None]:
        """RPMs stay as they are."""
        yield
