"""Fixtures for repository tests with real tools: gpg, nfpm, apt-get, dnf, zypper, chromium.

Everything runs on 127.0.0.1: repositories are served by a stdlib HTTP server on a random
port; keyrings live in short throwaway GNUPGHOMEs whose agents are killed at teardown.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.repo.build import RepoChange, add_packages
from orchestrator.repo.options import RepoOptions, SigningConfig
from orchestrator.repo.signing import GeneratedKey, Signer, generate_key, open_signer, wipe_keyring

PROJECT = "demo"
DEB_ARCHES = ("amd64", "arm64")
RPM_ARCHES = ("x86_64", "aarch64")


def run(command: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a client command, capturing its output for assertions and failure messages."""
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )


@dataclass(frozen=True)
class Keyring:
    """A throwaway GnuPG home and the key generated in it."""

    home: Path
    key: GeneratedKey

    def export(self, directory: Path) -> tuple[Path, Path]:
        """Write the armored and binary public key into ``directory``."""
        armored, binary = directory / "key.asc", directory / "key.gpg"
        armored.write_text(self.key.public_key)
        binary.write_bytes(
            subprocess.run(
                ["gpg", "--homedir", str(self.home), "--export", self.key.fingerprint],
                capture_output=True,
                check=True,
            ).stdout
        )
        return armored, binary


def _keyring(name: str) -> Iterator[Keyring]:
    home = Path(tempfile.mkdtemp(prefix="orc-it-", dir="/tmp"))
    try:
        yield Keyring(home, generate_key(name, f"{name}@example.org", home, key_length=2048))
    finally:
        wipe_keyring(home)


@pytest.fixture(scope="session")
def keyring() -> Iterator[Keyring]:
    """The repository's signing key."""
    yield from _keyring("demo-signing")


@pytest.fixture(scope="session")
def wrong_keyring() -> Iterator[Keyring]:
    """Another key, which clients must not accept for the repository."""
    yield from _keyring("impostor")


@pytest.fixture(scope="session")
def signer(keyring: Keyring) -> Iterator[Signer]:
    """A signer for the repository's key."""
    config = SigningConfig(fingerprint=keyring.key.fingerprint, gnupghome=str(keyring.home))
    with open_signer(config) as opened:
        yield opened


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def serve() -> Iterator[Callable[[Path], str]]:
    """Serve directories over HTTP on 127.0.0.1; every server stops at teardown."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(root: Path) -> str:
        root.mkdir(parents=True, exist_ok=True)
        handler = functools.partial(_QuietHandler, directory=str(root))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def nfpm(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str, str, str], Path]:
    """Build a package with nfpm, once: (version, arch, format, out directory) -> file."""
    work = tmp_path_factory.mktemp("nfpm")
    (work / "hello.txt").write_text("hello from the demo package\n")

    @functools.cache
    def build(version: str, arch: str, packager: str, out: str) -> Path:
        target = work / out
        target.mkdir(exist_ok=True)
        config = work / f"{version}-{arch}.yaml"
        config.write_text(
            f"name: {PROJECT}\narch: {arch}\nplatform: linux\nversion: {version}\n"
            "release: 1\nmaintainer: Demo <demo@example.org>\ndescription: demo package\n"
            f"license: MIT\ncontents:\n  - src: {work / 'hello.txt'}\n"
            f"    dst: /usr/share/{PROJECT}/hello.txt\n"
        )
        before = set(target.iterdir())
        subprocess.run(
            ["nfpm", "package", "-f", str(config), "-p", packager, "-t", str(target)],
            check=True,
            capture_output=True,
        )
        (created,) = set(target.iterdir()) - before
        return created

    return build


def build_set(nfpm: Callable[[str, str, str, str], Path], version: str) -> list[Path]:
    """The deb (amd64, arm64) and rpm (x86_64, aarch64) packages of one version."""
    return [nfpm(version, arch, "deb", version) for arch in DEB_ARCHES] + [
        nfpm(version, arch, "rpm", version) for arch in RPM_ARCHES
    ]


@dataclass
class Published:
    """The shared repository: 1.0.0 and then 1.1.0 in stable, 1.2.0~rc.1 in testing."""

    root: Path
    url: str
    options: RepoOptions
    first: RepoChange
    second: RepoChange
    prerelease: RepoChange
    v1_packages_index: bytes


@pytest.fixture(scope="session")
def published(
    tmp_path_factory: pytest.TempPathFactory,
    serve: Callable[[Path], str],
    nfpm: Callable[[str, str, str, str], Path],
    signer: Signer,
) -> Published:
    """Build the shared repository with this tool and serve it."""
    root = tmp_path_factory.mktemp("published") / "repo"
    url = serve(root)
    options = RepoOptions(
        project=PROJECT, origin="Example", label="Demo Tools", base_url=url,
        maintainer="Example Ops", homepage="https://example.org/demo",
    )  # fmt: skip
    first = add_packages(build_set(nfpm, "1.0.0"), root, "stable", options, signer)
    v1_index = (root / "deb/dists/stable/main/binary-amd64/Packages").read_bytes()
    second = add_packages(build_set(nfpm, "1.1.0"), root, "stable", options, signer)
    prerelease = add_packages(build_set(nfpm, "1.2.0~rc.1"), root, "testing", options, signer)
    return Published(root, url, options, first, second, prerelease, v1_index)


@pytest.fixture
def apt_get(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """apt-get with its own state, cache and sources, trusting only ``signed-by`` keys."""
    state, cache, etc = tmp_path / "state", tmp_path / "cache", tmp_path / "etc"
    for directory in (state / "lists" / "partial", cache / "archives" / "partial", etc):
        directory.mkdir(parents=True)
    (etc / "apt.conf").write_text("")

    def apt(*args: str, sources: str = "") -> subprocess.CompletedProcess[str]:
        if sources:
            (etc / "sources.list").write_text(sources)
        options = {
            "Dir::State": state,
            "Dir::Cache": cache,
            "Dir::Etc": etc,
            "Dir::Etc::SourceList": etc / "sources.list",
            "Dir::Etc::SourceParts": etc / "sources.list.d",
            "Dir::Etc::Parts": etc / "apt.conf.d",
            "Dir::Etc::PreferencesParts": etc / "preferences.d",
            "Dir::Etc::TrustedParts": etc / "trusted.gpg.d",
            "APT::Architecture": "amd64",
            "APT::Architectures": "amd64,arm64",
            # _apt cannot write into pytest's root-owned temporary directories.
            "APT::Sandbox::User": "root",
            "Debug::NoLocking": "1",
        }
        flags = [f"-o{key}={value}" for key, value in options.items()]
        return run(["apt-get", "-q", *flags, *args], cwd=tmp_path)

    return apt


@pytest.fixture
def dnf(tmp_path: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """dnf in a throwaway installroot with only the given .repo file."""
    repos = tmp_path / "repos.d"
    repos.mkdir()

    def client(arch: str, repo_file: str, *args: str) -> subprocess.CompletedProcess[str]:
        (repos / f"{PROJECT}.repo").write_text(repo_file)
        root = tmp_path / f"root-{arch}"
        return run(
            [
                "dnf", "-y", f"--installroot={root}", f"--forcearch={arch}", "--releasever=1",
                f"--setopt=reposdir={repos}", f"--setopt=cachedir={tmp_path / 'cache' / arch}",
                "--setopt=install_weak_deps=0", "--setopt=skip_if_unavailable=False",
                *args,
            ]
        )  # fmt: skip

    yield client
    # librepo verifies repomd.xml with a gpg-agent per repository keyring; stop them.
    for home in tmp_path.rglob("pubring"):
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)


@pytest.fixture
def zypper(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """zypper on a throwaway root whose rpm database trusts only the given key."""
    root = tmp_path / "zypper-root"

    def client(*args: str, key: Path | None = None) -> subprocess.CompletedProcess[str]:
        if key is not None:
            subprocess.run(["rpm", "--root", str(root), "--initdb"], check=True)
            subprocess.run(["rpm", "--root", str(root), "--import", str(key)], check=True)
        return run(["zypper", "--root", str(root), "--non-interactive", *args])

    return client


@pytest.fixture(scope="session")
def output_dir(request: pytest.FixtureRequest) -> Path:
    """Where tests leave artifacts for people (screenshots): $TEST_OUTPUT_DIR or test-output/."""
    base = Path(os.environ.get("TEST_OUTPUT_DIR") or request.config.rootpath / "test-output")
    directory = base / "repo"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def copy_tree(source: Path, destination: Path) -> Path:
    """A private copy of a repository tree, for tests that tamper with it."""
    shutil.copytree(source, destination)
    return destination
