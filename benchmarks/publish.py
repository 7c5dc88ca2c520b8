#!/usr/bin/env python3
"""Publish N synthetic .deb packages to S3 (moto's server) with this tool and with aptly.

Three steps each: a cold publish of N packages, adding 10 packages, and a no-op republish.
For each step it prints the wall time, the requests the S3 server received by verb, and
the CPU time of the publisher and of the server. The S3 server runs in its own process
and counts every request it answers, so both tools are measured the same way. Building
this tool's tree (``repo.build``) and importing the packages into aptly's database
(``aptly repo add``) happen before the clock starts: only publishing is measured. This
tool's publish is timed as the call the release pipeline makes, in the benchmark's process.

moto answers a request in a few milliseconds of CPU under one GIL, so at its own speed
("0 ms") a cold publish is bound by the server for any client. ``--latency`` adds a wait
before each answer, as a round trip to a real endpoint (Spaces, S3) would; by default the
benchmark runs at 0 and at 20 ms.

    python benchmarks/publish.py                   # N = 2,000; 0 and 20 ms
    python benchmarks/publish.py --n 200 --latency 0

Targets: a no-op republish makes at most 3 requests; +10 uploads only the new pool files
and the changed metadata; the cold publish is at least 5x faster than aptly's.
Needs: gnupg, aptly (Debian), moto[server] (PyPI).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.repo_index import ADD, signing_key, write_debs  # noqa: E402
from orchestrator.config.inventory import S3Publish  # noqa: E402
from orchestrator.config.repositories import SigningConfig  # noqa: E402
from orchestrator.publish.info import PublishInfo  # noqa: E402
from orchestrator.publish.run import publish_tree, resolve  # noqa: E402
from orchestrator.repo.build import add_packages, find_packages  # noqa: E402
from orchestrator.repo.options import RepoOptions  # noqa: E402
from orchestrator.repo.signing import open_signer  # noqa: E402
from tests.conftest import free_port  # noqa: E402

COUNTS = "/__bench/counts"
REGION = "us-east-1"


def serve(port: int, latency: float) -> None:
    """The S3 server process: moto, plus a count of requests by verb at COUNTS.

    ``latency`` seconds are spent before each request is answered, as a network round
    trip to a real endpoint would (sleeping releases the GIL, so requests overlap).
    """
    import logging
    from collections import Counter
    from threading import Lock

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = DomainDispatcherApplication(create_backend_app)
    counts: Counter[str] = Counter()
    lock = Lock()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] == COUNTS:
            with lock:
                body = json.dumps(counts).encode()
                if environ["REQUEST_METHOD"] == "DELETE":
                    counts.clear()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        with lock:
            counts[environ["REQUEST_METHOD"]] += 1
        time.sleep(latency)
        result: Iterable[bytes] = moto(environ, start_response)
        return result

    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[bytes]

    def cpu(self) -> float:
        """CPU seconds the server process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def counts(self, reset: bool = True) -> dict[str, int]:
        request = urllib.request.Request(
            self.endpoint + COUNTS, method="DELETE" if reset else "GET"
        )
        with urllib.request.urlopen(request) as response:
            counts: dict[str, int] = json.loads(response.read())
        return counts


def start_server(latency_ms: float) -> S3Server:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--latency", str(latency_ms)],
        stdout=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(endpoint + COUNTS)
            break
        except OSError:
            time.sleep(0.05)
    return S3Server(endpoint, process)


def create_bucket(server: S3Server, bucket: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=server.endpoint, region_name=REGION).create_bucket(
        Bucket=bucket
    )


@dataclass
class Clock:
    """Wall time, the publisher's CPU time and the S3 server's CPU time of one step."""

    server: S3Server
    own_cpu: Callable[[], float]

    def __enter__(self) -> Clock:
        self.server.counts()
        self.started = (time.perf_counter(), self.own_cpu(), self.server.cpu())
        return self

    def __exit__(self, *exc_info: object) -> None:
        wall, cpu, server = self.started
        self.wall = time.perf_counter() - wall
        self.cpu = self.own_cpu() - cpu
        self.server_cpu = self.server.cpu() - server
        self.counts = self.server.counts()

    def show(self, tool: str, step: str) -> float:
        verbs = ", ".join(f"{verb} {self.counts[verb]}" for verb in sorted(self.counts))
        print(
            f"  {tool:<10} {step:<5} {self.wall:7.2f} s  {sum(self.counts.values()):5d} requests "
            f"({verbs or 'none'}); CPU: publisher {self.cpu:.2f} s, S3 server "
            f"{self.server_cpu:.2f} s",
            flush=True,
        )
        return self.wall


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_ours(
    repo: Path, work: Path, server: S3Server, home: Path, fingerprint: str
) -> dict[str, float]:
    options = RepoOptions(project="bench", origin="Bench", label="Bench")
    config = SigningConfig(fingerprint=fingerprint, gnupghome=str(home))
    create_bucket(server, "ours")
    target = resolve(
        S3Publish(
            kind="s3", name="bench", bucket="ours", endpoint=server.endpoint,
            url=f"{server.endpoint}/ours", region=REGION,
        ),
    )  # fmt: skip
    release = PublishInfo(run_id="bench", tag="", version="bench")
    times: dict[str, float] = {}
    with open_signer(config) as signer:
        for step, packages in (("cold", "base"), ("add", "extra"), ("noop", "extra")):
            add_packages(find_packages(work / "debs" / packages), repo, "stable", options, signer)
            with Clock(server, self_cpu) as clock:
                (result,) = publish_tree(
                    repo, [target], release=release, lock_wait=10, say=lambda line: None
                )
            times[step] = clock.show("this tool", step)
            if step == "add":
                print(f"{'':18}uploaded {result.uploaded} files (10 packages among them)")
    return times


def bench_aptly(
    root: Path, work: Path, server: S3Server, env: dict[str, str], fingerprint: str
) -> dict[str, float]:
    create_bucket(server, "aptly")
    root.mkdir()
    config = root / "aptly.conf"
    endpoint = {
        "region": REGION, "bucket": "aptly", "endpoint": server.endpoint,
        "awsAccessKeyID": env["AWS_ACCESS_KEY_ID"], "awsSecretAccessKey": env["AWS_SECRET_ACCESS_KEY"],
        "acl": "public-read", "forceVirtualHostedStyle": False,
    }  # fmt: skip
    config.write_text(
        json.dumps(
            {
                "rootDir": str(root),
                "gpgProvider": "gpg",
                "architectures": ["amd64"],
                "S3PublishEndpoints": {"bench": endpoint},
            }
        )
    )
    aptly = ["aptly", f"-config={config}"]
    # What this tool's tree has too: signed, no Contents, no bzip2 indexes.
    flags = ["-batch", f"-gpg-key={fingerprint}", "-skip-contents", "-skip-bz2"]

    def run(*args: str) -> None:
        subprocess.run([*aptly, *args], env=env, check=True, capture_output=True)

    run("repo", "create", "-distribution=stable", "-component=main", "bench")
    times: dict[str, float] = {}
    steps = (
        ("cold", "base", ["publish", "repo", *flags, "-acquire-by-hash", "bench", "s3:bench:"]),
        ("add", "extra", ["publish", "update", *flags, "stable", "s3:bench:"]),
        ("noop", None, ["publish", "update", *flags, "stable", "s3:bench:"]),
    )
    for step, packages, publish in steps:
        if packages:
            run("repo", "add", "bench", str(work / "debs" / packages))
        with Clock(server, children_cpu) as clock:
            run(*publish)
        times[step] = clock.show("aptly", step)
    return times


def scenario(
    work: Path, latency: float, home: Path, fingerprint: str, env: dict[str, str], n: int
) -> None:
    """Both tools against a fresh S3 server answering after ``latency`` milliseconds."""
    server = start_server(latency)
    try:
        print(f"\nS3 (moto) at {server.endpoint}, {latency:g} ms added per request")
        ours = bench_ours(work / f"ours-{latency:g}", work, server, home, fingerprint)
        theirs = bench_aptly(work / f"aptly-{latency:g}", work, server, env, fingerprint)
        print("  aptly's wall time / this tool's (>1: this tool is faster):")
        for step in ("cold", "add", "noop"):
            print(f"    {step:<5} {theirs[step] / max(ours[step], 1e-3):6.1f}x")
    finally:
        server.process.terminate()
        server.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000, help="packages in the cold publish")
    parser.add_argument(
        "--latency", type=float, nargs="+", default=[0.0, 20.0],
        help="milliseconds the S3 server waits before each answer, as a real endpoint's "
        "round trip would; one run per value (default: 0, moto's own speed, and 20)",
    )  # fmt: skip
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.latency[0] / 1000)
        return
    work = Path(tempfile.mkdtemp(prefix="publish-bench-", dir="/var/tmp"))
    home = Path(tempfile.mkdtemp(prefix="bg-", dir="/tmp")) / "g"
    credentials = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    os.environ.update({**credentials, "AWS_EC2_METADATA_DISABLED": "true"})
    env = {**os.environ, "GNUPGHOME": str(home)}
    try:
        fingerprint = signing_key(home)
        write_debs(work / "debs" / "base", range(args.n))
        write_debs(work / "debs" / "extra", range(args.n, args.n + ADD))
        print(f"{args.n} .deb packages, then {ADD} more, then nothing")
        for latency in args.latency:
            scenario(work, latency, home, fingerprint, env, args.n)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
        shutil.rmtree(home.parent, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
