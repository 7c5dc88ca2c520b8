"""The sandbox's throwaway signing key, so a rehearsal signs like a real release.

Generated once per sandbox into a temporary keyring, exported armored to
``<state_dir>/signing-key.asc`` (mode 0600) and used like a key from the environment:
imported into a keyring that is wiped after each run, so no gpg-agent lingers.
"""

from __future__ import annotations

import fcntl
import os
import subprocess

from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.engine.atomic import write_atomically
from orchestrator.errors import SandboxError
from orchestrator.repo.gpghomes import temporary_home, wipe_keyring
from orchestrator.repo.signing import GPG, generate_key, public_key_only
from orchestrator.sandbox.state import files_of

KEY_FILE = "signing-key.asc"


def sandbox_private_key(settings: SandboxSettings, project: str) -> str:
    """The sandbox's armored private signing key, generated on first use."""
    root = files_of(settings).root
    root.mkdir(parents=True, exist_ok=True)
    path = root / KEY_FILE
    with (root / f".{KEY_FILE}.lock").open("w") as lock:
        # Two tasks starting at once must not generate two keys.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            return path.read_text(encoding="utf-8")
        home = temporary_home()
        try:
            key = generate_key(
                f"{project} sandbox signing key (rehearsals only)",
                "sandbox@localhost",
                home,
                expire_days=365,
                key_length=3072,
            )
            exported = subprocess.run(
                [
                    GPG,
                    "--homedir",
                    str(home),
                    "--batch",
                    "--armor",
                    "--export-secret-keys",
                    key.fingerprint,
                ],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "GNUPGHOME": str(home)},
            )
            if exported.returncode != 0 or "PRIVATE KEY BLOCK" not in exported.stdout:
                raise SandboxError(
                    f"could not export the sandbox signing key: {exported.stderr.strip()[-200:]}"
                )
        finally:
            wipe_keyring(home)
        write_atomically(path, exported.stdout, mode=0o600)
        return exported.stdout


def sandbox_public_key(settings: SandboxSettings, project: str) -> str:
    """The public half of the sandbox's signing key, armored: what deploy hosts trust."""
    return public_key_only(sandbox_private_key(settings, project), "the sandbox signing key")
