"""GnuPG homes the signer makes for itself: throwaway keyrings, and homes for extra agents.

A gpg-agent makes its private-key operations one at a time (an RSA-4096 signature is
about 16 ms of one core), so two rpmsign processes against one agent take as long as one.
A *linked* home gives a second agent the same key: its keyring and private-key directory
are symbolic links to the key's own home, so no key material is copied, and removing the
home stops its agent and deletes only the links.

Every home is wiped when the signer closes, on every exit path but one: a process killed
outright (SIGKILL) leaves its home, the imported private key in it and its agent. Each
home therefore names its owner (:data:`OWNER`), and :func:`sweep_stale_homes` (run before
a signer opens, and by ``invoke teardown``) wipes every home whose owner is gone.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from orchestrator.engine.liveness import Owner, this_boot, this_process

PREFIX = "orc-gpg-"
OWNER = ".owner"
# A home whose owner file is missing was made by a process killed in the instant between
# mkdtemp and writing the file; it counts as stale once this old.
_UNOWNED_GRACE_SECONDS = 600.0

# What gpg needs to find and use a key; the trust database is left out so nothing in the
# key's home is ever written through a link.
_LINKED = ("pubring.kbx", "pubring.gpg", "private-keys-v1.d", "gpg.conf", "gpg-agent.conf")

# How long a killed daemon may take to exit before the wipe goes on without waiting.
DAEMON_EXIT_SECONDS = 3.0


def temporary_home(parent: Path = Path("/tmp")) -> Path:
    """A fresh, private GnuPG home with a short path (agent sockets have a length limit).

    It names its owner, this process, so that a later run can wipe it if this one is killed.
    """
    home = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
    (home / OWNER).write_text(this_process().render(), encoding="utf-8")
    return home


def _is_stale(home: Path, now: float) -> bool:
    info = home.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return False  # not a directory this user made: never touched
    try:
        owner = Owner.parse((home / OWNER).read_text(encoding="utf-8"))
    except OSError:
        owner = None
    if owner is None:
        return now - info.st_mtime > _UNOWNED_GRACE_SECONDS
    return owner.is_gone(this_boot())


def sweep_stale_homes(parent: Path = Path("/tmp")) -> list[Path]:
    """Stop the agents of, and delete, the homes whose owning process is gone; return them."""
    now = time.time()
    swept = []
    for home in sorted(parent.glob(f"{PREFIX}*")):
        try:
            stale = _is_stale(home, now)
        except OSError:
            continue  # removed meanwhile by its owner or another sweep
        if stale:
            wipe_keyring(home)
            swept.append(home)
    return swept


def wipe_keyring(gnupghome: Path, components: str = "all") -> None:
    """Stop the GnuPG daemons (``components``) of a throwaway home and delete the home.

    ``gpgconf --kill`` only asks a daemon to exit; this waits (briefly) until it has, so
    that no agent outlives the wipe, even for a moment.
    """
    subprocess.run(
        ["gpgconf", "--homedir", str(gnupghome), "--kill", components],
        capture_output=True,
        check=False,
    )
    deadline = time.monotonic() + DAEMON_EXIT_SECONDS
    while _daemons_of(gnupghome) and time.monotonic() < deadline:
        time.sleep(0.02)
    shutil.rmtree(gnupghome, ignore_errors=True)


def _daemons_of(gnupghome: Path) -> list[int]:
    """The pids of processes started with ``--homedir gnupghome`` (its agent, its dirmngr)."""
    wanted = ["--homedir", str(gnupghome)]
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(arguments[i : i + 2] == wanted for i in range(len(arguments) - 1)):
            found.append(int(entry.name))
    return found


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
