"""GnuPG homes the signer makes for itself: throwaway keyrings, and homes for extra agents.

A gpg-agent makes its private-key operations one at a time (an RSA-4096 signature is
about 16 ms of one core), so two rpmsign processes against one agent take as long as one.
A *linked* home gives a second agent the same key: its keyring and private-key directory
are symbolic links to the key's own home, so no key material is copied, and removing the
home stops its agent and deletes only the links.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# What gpg needs to find and use a key; the trust database is left out so nothing in the
# key's home is ever written through a link.
_LINKED = ("pubring.kbx", "pubring.gpg", "private-keys-v1.d", "gpg.conf", "gpg-agent.conf")


def temporary_home() -> Path:
    """A fresh, private GnuPG home with a short path (agent sockets have a length limit)."""
    return Path(tempfile.mkdtemp(prefix="orc-gpg-", dir="/tmp"))


def wipe_keyring(gnupghome: Path, components: str = "all") -> None:
    """Stop the GnuPG daemons (``components``) of a throwaway home and delete the home."""
    subprocess.run(
        ["gpgconf", "--homedir", str(gnupghome), "--kill", components],
        capture_output=True,
        check=False,
    )
    shutil.rmtree(gnupghome, ignore_errors=True)


def default_home() -> Path:
    """The GnuPG home gpg uses when none is given."""
    if os.environ.get("GNUPGHOME"):
        return Path(os.environ["GNUPGHOME"])
    listed = subprocess.run(
        ["gpgconf", "--list-dirs", "homedir"], capture_output=True, text=True, check=False
    )
    return Path(listed.stdout.strip() or Path.home() / ".gnupg")


def linked_home(source: Path) -> Path:
    """A new home whose agent signs with the keys of ``source`` (see :func:`remove_linked_home`)."""
    home = temporary_home()
    for name in _LINKED:
        if (source / name).exists():
            (home / name).symlink_to((source / name).resolve())
    return home


def remove_linked_home(home: Path) -> None:
    """Stop the agent of a linked home and delete the home (its links, not what they name)."""
    # Signing starts only an agent there; stopping just it is half the time of "all".
    wipe_keyring(home, "gpg-agent")
