"""What every test shares: ports and loopback networks no other test worker takes, one
root for what tests write.

The root is under /tmp on purpose: sandbox hosts cover /tmp with a private one and must
still find their own files there (a fresh clone in /tmp runs the sandbox the same way).

The suite runs in pytest-xdist workers (``scripts/test.sh``), each starting sandboxes of
its own. So that no two workers ever meet, every worker hands out ports and loopback
networks from a share of its own: ports ``p`` with ``p % workers == worker``, networks
``127.A.B`` with ``B % workers == worker`` (the ranges of ``A`` say what a network is
for, see ``tests/integration/conftest.py``). Within a worker, each is handed out once
before any comes round again, so worlds alive at the same time never share one either.
A benchmark that a test runs as a subprocess inherits the worker's share: it runs while
its worker holds no sandbox of its own (no sandbox fixture is session-scoped).
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

TEST_ROOT = Path("/tmp/orchestrator-tests")

# Below the kernel's ephemeral range (32768-60999 by default), so that between a test
# choosing a port and its server binding it, no outgoing connection's source port and no
# bind to port 0 can take it.
PORTS = range(20000, 32768)


def worker() -> tuple[int, int]:
    """This process's pytest-xdist worker number and the number of workers ((0, 1) without)."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name.removeprefix("gw")), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def _share(values: range) -> Iterator[int]:
    """This worker's share of ``values``, each once in turn from a random start, endlessly."""
    number, count = worker()
    mine = list(values[number::count])
    start = random.randrange(len(mine))
    return itertools.cycle(mine[start:] + mine[:start])


_ports = _share(PORTS)
_third_octets = _share(range(256))


def free_port() -> int:
    """A TCP port of this worker's share that nothing listens on now."""
    for port in itertools.islice(_ports, len(PORTS)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise OSError(f"every port of this worker's share of {PORTS} is taken")


def loopback_network(low: int, high: int) -> str:
    """A ``127.A.B`` prefix of this worker's share, ``A`` between ``low`` and ``high``."""
    return f"127.{random.randint(low, high)}.{next(_third_octets)}"


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
