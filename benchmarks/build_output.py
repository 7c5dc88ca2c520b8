"""Build output benchmark: how fast a flood of output streams from a host, and in how much memory.

A sandbox host (a real sshd) prints N MB of lines, or N MB without a single newline, and
the orchestrator takes it the way the build stage does: ``sshexec.run`` into a
``LogStream``. For comparison the same command goes through Fabric's ``Connection.run``
(invoke's ``Runner``), which the build stage used before; it re-joins its whole capture
buffer on every read, so its time grows with the square of the output and it is only run
at the smaller sizes. Prints seconds, MB/s and the peak of Python memory allocated.
Target: constant time per byte, bounded memory.

    python benchmarks/build_output.py [--sizes 10 50] [--fabric-sizes 1 2 4]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fabric import Connection  # noqa: E402

from orchestrator.release.buildlog import LogStream  # noqa: E402
from orchestrator.remote import sshexec  # noqa: E402
from orchestrator.remote.fleet import HostAccess, connect  # noqa: E402
from orchestrator.remote.sshkeys import generate_keypair  # noqa: E402
from orchestrator.sandbox import hosts  # noqa: E402
from orchestrator.sandbox.machines import toolchain  # noqa: E402
from tests.conftest import free_port, loopback_network  # noqa: E402

MB = 1_000_000


def commands(megabytes: int) -> dict[str, str]:
    count = megabytes * MB
    return {
        "lines": f"head -c {count * 3 // 4} /dev/zero | base64 -w 76 | head -c {count}",
        "no newline": f"head -c {count} /dev/zero | tr '\\0' x",
    }


def measure(run: Callable[[], None]) -> tuple[float, float]:
    """Seconds and peak MB of Python allocations of ``run``."""
    tracemalloc.start()
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / MB


def through_sshexec(connection: Connection, command: str, log: Path) -> None:
    stream = LogStream(log, limit=1 << 40)
    try:
        status = sshexec.run(connection, command, timeout=3600, stdout=stream, pty=True)
    finally:
        stream.close()
    assert status == 0


class _Sink:
    """A file-like that counts what it is given, as the old build log was handed."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, text: str) -> int:
        self.count += len(text)
        return len(text)

    def flush(self) -> None:
        pass


def through_fabric(connection: Connection, command: str) -> None:
    sink = _Sink()
    connection.run(command, pty=True, hide=True, warn=True, in_stream=False, out_stream=sink)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--fabric-sizes", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()

    # Not under /tmp: the host covers /tmp with its own.
    directory = Path(tempfile.mkdtemp(prefix="relorch-bench-", dir="/var/tmp"))
    host_key, client_key = generate_keypair(), generate_keypair()
    address = f"{loopback_network(100, 199)}.9"
    shared, path = toolchain()
    spec = hosts.HostSpec(
        directory / "host", address, free_port(), host_key.private_openssh,
        (client_key.public_line,), shared, path,
    )  # fmt: skip
    hosts.start_host(spec)
    access = HostAccess(
        "bench", address, spec.port, "root", host_key.public_line, client_key=client_key.pkey()
    )
    connection = connect(access)
    rows = []
    try:
        for size in args.sizes:
            for kind, command in commands(size).items():
                log = directory / "build.log"
                seconds, peak = measure(partial(through_sshexec, connection, command, log))
                rows.append(("sshexec + LogStream", kind, size, seconds, peak))
        for size in args.fabric_sizes:
            for kind, command in commands(size).items():
                seconds, peak = measure(partial(through_fabric, connection, command))
                rows.append(("Fabric Connection.run", kind, size, seconds, peak))
    finally:
        connection.close()
        hosts.destroy_host(spec.directory)
        shutil.rmtree(directory, ignore_errors=True)

    print(f"{'path':<24}{'output':<12}{'MB':>6}{'seconds':>10}{'MB/s':>9}{'peak MB':>10}")
    for name, kind, size, seconds, peak in rows:
        print(f"{name:<24}{kind:<12}{size:>6}{seconds:>10.2f}{size / seconds:>9.1f}{peak:>10.1f}")


if __name__ == "__main__":
    main()
