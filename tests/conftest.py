"""What every test shares: one way to find a free port, one root for what tests write.

The root is under /tmp on purpose: sandbox hosts cover /tmp with a private one and must
still find their own files there (a fresh clone in /tmp runs the sandbox the same way).
"""

from __future__ import annotations

import socket
import subprocess
import uuid
from pathlib import Path

TEST_ROOT = Path("/tmp/orchestrator-tests")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_test_directory() -> Path:
    """A fresh directory under :data:`TEST_ROOT`."""
    directory = TEST_ROOT / uuid.uuid4().hex[:12]
    directory.mkdir(parents=True)
    return directory


def git(repository: Path, *args: str) -> str:
    """Run git in ``repository`` as a throwaway committer; its output, stripped."""
    return subprocess.run(
        ["git", "-C", str(repository), "-c", "user.name=T", "-c", "user.email=t@x", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
