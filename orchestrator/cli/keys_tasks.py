"""``invoke keys.generate``: a new signing key for a project."""

from __future__ import annotations

import os
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from orchestrator.cli.common import count_flag, reports_errors
from orchestrator.config.credentials import SIGNING_PASSPHRASE
from orchestrator.repo.clientfiles import fingerprint_groups
from orchestrator.repo.signing import generate_key


@task(
    help={
        "project": "project name, used as the key's user id name",
        "email": "e-mail address of the key's user id",
        "gnupghome": "GnuPG home to create the key in (default: gpg's default)",
        "expire_days": "days until the key expires (default 730)",
    }
)
@reports_errors
def generate(
    c: Context,
    project: str,
    email: str,
    gnupghome: str | None = None,
    expire_days: str = "730",
) -> None:
    """Create an RSA-4096 signing key; print its fingerprint and public key.

    The key is protected with $ORCHESTRATOR_SIGNING_PASSPHRASE when that is set.
    """
    # Signing refuses keys that expire within 14 days.
    days = count_flag(expire_days, "--expire-days", minimum=30, maximum=36500)
    home = Path(gnupghome).expanduser() if gnupghome else None
    if home is not None:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = generate_key(
        f"{project} repository signing key",
        email,
        home,
        passphrase=os.environ.get(SIGNING_PASSPHRASE) or None,
        expire_days=days,
    )
    print(f"fingerprint: {key.fingerprint}")
    print(f"             {fingerprint_groups(key.fingerprint)}")
    print(key.public_key, end="")


namespace = Collection("keys", generate)
