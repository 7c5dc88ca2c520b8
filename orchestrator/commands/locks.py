"""The shell commands of a lock that is a directory on a remote host; pure.

A lock is taken with an atomic ``mkdir`` and carries a details file naming its holder (see
:mod:`orchestrator.engine.locks`). The repo server's publish lock and an environment's deploy lock
are both this; the paths are quoted with :func:`shlex.quote`.
"""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath

DETAILS = "details"
# Exit status of the take command when someone else holds the lock.
HELD = 3

q = shlex.quote


def _details(lock: str) -> str:
    return q(str(PurePosixPath(lock, DETAILS)))


def take(lock: str, details: str) -> str:
    """Take the lock at ``lock`` with ``details``, or print the holder's and exit HELD."""
    return (
        f"if mkdir {q(lock)} 2>/dev/null; then printf %s {q(details)} > {_details(lock)}; "
        f"else cat {_details(lock)} 2>/dev/null; exit {HELD}; fi"
    )


def release(lock: str, token: str) -> str:
    """Remove the lock only if it is still the one with ``token``."""
    # A forced unlock may have let another holder in meanwhile: never remove its lock.
    return f"grep -qxF {q('token=' + token)} {_details(lock)} && rm -rf {q(lock)}"


def read(lock: str) -> str:
    """Print the lock's details file (nothing, status 1, when there is no lock)."""
    return f"cat {_details(lock)}"


def force(lock: str) -> str:
    """Print the lock's details, if any, and remove the lock whoever holds it."""
    return f"cat {_details(lock)} 2>/dev/null; rm -rf {q(lock)}"
