"""Fixtures for publishing tests: tree versions, the sandbox repo server, a moto S3 server,
and apt/dnf clients polling a repository while it changes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from orchestrator.config.repositories import RetentionOptions
from orchestrator.repo.build import add_packages, prune
from orchestrator.repo.layout import STATE
from orchestrator.repo.options import RepoOptions
from orchestrator.repo.pruned import RECORD
from orchestrator.repo.signing import Signer
from orchestrator.sandbox import reposerver
from orchestrator.verify.clients import AptClient, DnfClient
from tests.conftest import free_port
from tests.integration.conftest import PROJECT, Keyring, SandboxWorld, build_set

VERSIONS = 20
BUCKET = "packages"


@dataclass(frozen=True)
class TreeVersions:
    """Copies of one tree after each of its versions was added (oldest first)."""

    trees: list[Path]
    versions: list[str]


@pytest.fixture(scope="session")
def tree_versions(
    tmp_path_factory: pytest.TempPathFactory,
    nfpm: Callable[[str, str, str, str], Path],
    signer: Signer,
) -> TreeVersions:
    """1.0.0 .. 1.19.0 added to stable one at a time; every fourth step prunes to 3 versions."""
    work = tmp_path_factory.mktemp("trees")
    repo = work / "repo"
    options = RepoOptions(
        project=PROJECT, origin="Example", label="Demo",
        retention=RetentionOptions(keep_last=3),
    )  # fmt: skip
    trees, versions = [], []
    for index in range(VERSIONS):
        version = f"1.{index}.0"
        add_packages(build_set(nfpm, version), repo, "stable", options, signer)
        if index % 4 == 3:
            prune(repo, options, signer)
        copy = work / f"v{index:02d}"
        # Caches stay behind; the record of what was pruned is the tree's, so it goes along.
        shutil.copytree(repo, copy, ignore=shutil.ignore_patterns(".state"))
        record = repo / STATE / RECORD
        if record.exists():
            (copy / STATE).mkdir()
            shutil.copy2(record, copy / STATE / RECORD)
        trees.append(copy)
        versions.append(version)
    return TreeVersions(trees, versions)


@pytest.fixture
def repo_world(sandbox_world: SandboxWorld) -> SandboxWorld:
    """The sandbox inventory for the demo packages, with its repo server as publish target."""
    sandbox_world.data["project"]["name"] = PROJECT
    sandbox_world.data["repositories"]["channels"] = ["stable"]
    sandbox_world.rewrite()
    return sandbox_world


def web_root(world: SandboxWorld) -> Path:
    """The repo server's web root as seen from outside its host."""
    return reposerver.served_directory(world.settings).parent


def repo_url(world: SandboxWorld) -> str:
    """The URL the repo server serves ``current`` at."""
    return str(world.data["publish"][0]["url"])


def file_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (following ``root`` if it is a symlink)."""
    base = root.resolve()
    return {
        str(path.relative_to(base)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(base.rglob("*"))
        if path.is_file()
    }


def published_part(tree: Path) -> dict[str, str]:
    """File hashes of a local tree as a publish sends it (no manifest, no .state)."""
    return {path: digest for path, digest in file_hashes(tree).items() if not path.startswith(".")}


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 with an empty bucket; credentials in the environment."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Never ask the cloud metadata service (an address off the loopback) for credentials.
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SPACES_KEY", raising=False)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its buckets in the process, across servers: start from none.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


FAILURES = {
    "hash mismatch": ("Hash Sum mismatch", "File has unexpected size", "checksum doesn't match",
                      "Checksum doesn't match"),
    "bad signature": ("BADSIG", "signatures were invalid", "Bad GPG signature", "NO_PUBKEY",
                      "is not signed", "signature verification error"),
    "missing file": ("404  Not Found", "Not Found", "Cannot download", "Failed to fetch", "Status code: 4"),
}  # fmt: skip


def classify(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The kinds of failure a client run shows ("other" for an unexplained exit status)."""
    output = result.stdout + result.stderr
    kinds = [kind for kind, marks in FAILURES.items() if any(mark in output for mark in marks)]
    if result.returncode != 0 and not kinds:
        kinds.append("other")
    return kinds


@dataclass
class ClientLoop:
    """apt-get update and dnf makecache against ``url`` in loops, counting failures by kind."""

    url: str
    keyring: Keyring
    work: Path
    failures: Counter[str] = field(default_factory=Counter)
    runs: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _record(self, client: str, result: subprocess.CompletedProcess[str]) -> None:
        self.runs[client] += 1
        for kind in classify(result):
            self.failures[f"{client}: {kind}"] += 1
            self.examples.append((result.stdout + result.stderr)[-600:])

    def _apt(self) -> None:
        _, binary = self.keyring.export(self.work)
        client = AptClient(self.work / "apt")
        sources = f"deb [signed-by={binary}] {self.url}/deb stable main\n"
        while not self._stop.is_set():
            self._record("apt", client("update", sources=sources))

    def _dnf_repo_file(self) -> str:
        return (
            f"[{PROJECT}]\nname={PROJECT}\nbaseurl={self.url}/rpm/stable/$basearch\n"
            f"gpgcheck=1\nrepo_gpgcheck=1\ngpgkey={self.url}/keys/{PROJECT}.asc\n"
        )

    def _dnf(self) -> None:
        client = DnfClient(self.work / "dnf", PROJECT)
        try:
            while not self._stop.is_set():
                for arch in ("x86_64", "aarch64"):
                    self._record(
                        "dnf", client(arch, self._dnf_repo_file(), "makecache", "--refresh")
                    )
        finally:
            client.close()

    def _trust_key_in_dnf(self) -> None:
        # The loop stands for clients that poll a repository they already trust. dnf reads
        # repomd.xml and its signature again once after a mismatch, but a first contact
        # spends that second read on importing the key, so one taken mid-publish could
        # see the two objects straddle an upload (see orchestrator/publish/order.py).
        client = DnfClient(self.work / "dnf", PROJECT)
        try:
            for arch in ("x86_64", "aarch64"):
                first = client(arch, self._dnf_repo_file(), "makecache")
                assert first.returncode == 0, first.stdout + first.stderr
        finally:
            client.close()

    def __enter__(self) -> ClientLoop:
        self._trust_key_in_dnf()
        for target in (self._apt, self._dnf):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=200)


def run_env() -> dict[str, str]:
    """The environment for invoke subprocesses (unbuffered, to read progress lines)."""
    return {**os.environ, "PYTHONUNBUFFERED": "1"}
