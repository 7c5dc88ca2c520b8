"""The repo server's web server: ``python -m orchestrator.sandbox.repohttp --root DIR ...``.

It serves ``DIR`` (the web root's ``current`` symlink) read-only. Every request opens its
file through the symlink, so a publish's swap of ``current`` is seen by the next request,
and a request already under way finishes from the snapshot it started in.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import signal
import sys
import threading
from types import FrameType


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        # Clients poll in loops; only errors (log_error) are worth the log.
        pass


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m orchestrator.sandbox.repohttp")
    parser.add_argument("--root", required=True, help="directory to serve (the current link)")
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", required=True, type=int)
    args = parser.parse_args(argv)
    handler = functools.partial(_Handler, directory=args.root)
    server = http.server.ThreadingHTTPServer((args.address, args.port), handler)
    server.daemon_threads = True

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"serving {args.root} on http://{args.address}:{args.port}/", flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
