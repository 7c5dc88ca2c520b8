"""The sandbox daemon: ``python -m orchestrator.sandbox.server --state-dir DIR``.

It reads ``DIR/config.json`` (and re-reads it when it changes), serves the API, boots and
destroys droplet hosts, and keeps everything in ``DIR``. Stopping the daemon leaves droplet
hosts running, as a real cloud's droplets outlive an API outage; a restarted daemon picks them
up from the state file, and ``control.stop`` destroys them.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from orchestrator.engine.atomic import write_atomically
from orchestrator.errors import SandboxError
from orchestrator.sandbox import processes
from orchestrator.sandbox.account import Account
from orchestrator.sandbox.emulator import Emulator, EmulatorServer
from orchestrator.sandbox.lifecycle import Lifecycle
from orchestrator.sandbox.routes import Router
from orchestrator.sandbox.state import (
    ConfigWatcher,
    RequestLog,
    SandboxFiles,
    ServerInfo,
    ensure_token,
)

log = logging.getLogger("orchestrator.sandbox.server")

TICK = 0.05


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.sandbox.server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--state-dir", required=True, type=Path, help="the sandbox directory")
    return parser.parse_args(argv)


def _lock(files: SandboxFiles) -> int:
    """Hold DIR/server.lock for the daemon's life: two daemons on one state would corrupt it."""
    fd = os.open(files.root / "server.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SandboxError(f"another sandbox daemon is running on {files.root}") from None
    return fd


def main(argv: list[str] | None = None) -> int:
    """Run the daemon until SIGTERM or SIGINT; returns the exit status."""
    args = _parse(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    files = SandboxFiles(args.state_dir.absolute())
    try:
        files.root.mkdir(parents=True, exist_ok=True)
        _lock(files)
        watcher = ConfigWatcher(files)
        settings = watcher.current()
        api_url = f"http://{settings.api_host}:{settings.api_port}/v2/"
        account = Account(files, watcher.current, api_url)
        lifecycle = Lifecycle(account, files, watcher.current)
        router = Router(account, lifecycle, watcher.current)
        emulator = Emulator(router, ensure_token(files), watcher.current, RequestLog(files))
        httpd = EmulatorServer((settings.api_host, settings.api_port), emulator)
    except (SandboxError, OSError) as exc:
        log.error("cannot start the sandbox: %s", exc)
        return 1

    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="http", daemon=True
    ).start()
    lifecycle.recover()
    write_atomically(files.server, ServerInfo(pid=os.getpid(), api_url=api_url).model_dump_json())
    log.info("sandbox API listening on %s (state in %s)", api_url, files.root)
    while not stopping.wait(TICK):
        try:
            lifecycle.tick()
            processes.reap_children()
        except Exception:
            log.exception("lifecycle tick failed")
    log.info("stopping; droplet hosts keep running until control.stop destroys them")
    httpd.shutdown()
    httpd.server_close()
    lifecycle.join_workers(timeout=10.0)
    files.server.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
