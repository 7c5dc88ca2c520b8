"""Real package clients in throwaway roots: apt-get, dnf and zypper as a user's machine runs them.

Each client keeps all its state (lists, caches, rpm database, keyrings) under one directory
and trusts only the keys it is given, so a check proves what a fresh machine would see.
``invoke verify`` and the integration tests both use them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

TIMEOUT = 180.0


def run(command: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a client command, capturing its output for reports and assertions."""
    return subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT, check=False, cwd=cwd
    )


class AptClient:
    """apt-get with its own state, cache and sources under ``root``; downloads land in ``root``.

    No keyring is trusted: sources must name their key with ``signed-by``.
    """

    def __init__(self, root: Path, architectures: tuple[str, ...] = ("amd64", "arm64")) -> None:
        self.root = root
        self.architectures = architectures
        self.state, self.cache, self.etc = root / "state", root / "cache", root / "etc"
        for directory in (
            self.state / "lists" / "partial",
            self.cache / "archives" / "partial",
            self.etc,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        (self.etc / "apt.conf").touch()

    def options(self) -> list[str]:
        """The ``-o`` flags that keep apt inside ``root``."""
        options = {
            "Dir::State": self.state,
            "Dir::Cache": self.cache,
            "Dir::Etc": self.etc,
            "Dir::Etc::SourceList": self.etc / "sources.list",
            "Dir::Etc::SourceParts": self.etc / "sources.list.d",
            "Dir::Etc::Parts": self.etc / "apt.conf.d",
            "Dir::Etc::PreferencesParts": self.etc / "preferences.d",
            "Dir::Etc::TrustedParts": self.etc / "trusted.gpg.d",
            "APT::Architecture": self.architectures[0],
            "APT::Architectures": ",".join(self.architectures),
            # _apt cannot write into root-owned throwaway directories.
            "APT::Sandbox::User": "root",
            "Debug::NoLocking": "1",
        }
        return [f"-o{key}={value}" for key, value in options.items()]

    def __call__(self, *args: str, sources: str = "") -> subprocess.CompletedProcess[str]:
        """``apt-get ARGS``, after writing ``sources`` (if given) as the sources.list."""
        if sources:
            (self.etc / "sources.list").write_text(sources)
        return run(["apt-get", "-q", *self.options(), *args], cwd=self.root)

    def cache_show(self, package: str) -> subprocess.CompletedProcess[str]:
        """``apt-cache show PACKAGE`` against this client's lists."""
        return run(["apt-cache", *self.options(), "show", package], cwd=self.root)


class DnfClient:
    """dnf in throwaway installroots (one per architecture) with only the given .repo file."""

    def __init__(self, root: Path, name: str = "repository") -> None:
        self.root = root
        self.name = name
        self.repos = root / "repos.d"
        self.repos.mkdir(parents=True, exist_ok=True)

    def installroot(self, arch: str) -> Path:
        """The installroot of one architecture."""
        return self.root / f"root-{arch}"

    def __call__(self, arch: str, repo_file: str, *args: str) -> subprocess.CompletedProcess[str]:
        """``dnf ARGS`` for ``arch`` with ``repo_file`` as the only repository."""
        (self.repos / f"{self.name}.repo").write_text(repo_file)
        return run(
            [
                "dnf",
                "-y",
                f"--installroot={self.installroot(arch)}",
                f"--forcearch={arch}",
                "--releasever=1",
                f"--setopt=reposdir={self.repos}",
                f"--setopt=cachedir={self.root / 'cache' / arch}",
                "--setopt=install_weak_deps=0",
                # An unreachable or unverifiable repository is an error, not a warning.
                "--setopt=skip_if_unavailable=False",
                *args,
            ]
        )

    def close(self) -> None:
        """Stop the gpg-agents librepo starts for each repository keyring."""
        for home in self.root.rglob("pubring"):
            subprocess.run(
                ["gpgconf", "--homedir", str(home), "--kill", "all"],
                check=False,
                capture_output=True,
            )


class ZypperClient:
    """zypper on a throwaway root whose rpm database trusts only the given key."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def trust(self, key: Path) -> None:
        """Create the rpm database and import ``key`` (armored) into it."""
        subprocess.run(["rpm", "--root", str(self.root), "--initdb"], check=True)
        subprocess.run(["rpm", "--root", str(self.root), "--import", str(key)], check=True)

    def __call__(self, *args: str, key: Path | None = None) -> subprocess.CompletedProcess[str]:
        """``zypper ARGS`` on this root, trusting ``key`` first if given."""
        if key is not None:
            self.trust(key)
        return run(["zypper", "--root", str(self.root), "--non-interactive", *args])
