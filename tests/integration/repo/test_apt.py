"""Real apt-get against repositories built by this tool."""

from __future__ import annotations

import lzma
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import PROJECT, Keyring
from tests.integration.repo.conftest import Published, copy_tree

pytestmark = pytest.mark.integration

Apt = Callable[..., subprocess.CompletedProcess[str]]


def _sources(url: str, keyring: Path, suite: str = "stable") -> str:
    return f"deb [signed-by={keyring}] {url}/deb {suite} main\n"


def test_update_and_download_both_architectures(
    published: Published, apt_get: Apt, tmp_path: Path
) -> None:
    keyring = published.root / "keys" / f"{PROJECT}.gpg"
    update = apt_get("update", sources=_sources(published.url, keyring))
    assert update.returncode == 0, update.stdout + update.stderr
    assert "W:" not in update.stdout + update.stderr
    for spec in ("demo:amd64=1.0.0-1", "demo:arm64=1.0.0-1", "demo:amd64=1.1.0-1", "demo:arm64"):
        download = apt_get("download", spec)
        assert download.returncode == 0, download.stdout + download.stderr
    names = sorted(p.name for p in tmp_path.glob("*.deb"))
    assert names == [
        "demo_1.0.0-1_amd64.deb",
        "demo_1.0.0-1_arm64.deb",
        "demo_1.1.0-1_amd64.deb",
        "demo_1.1.0-1_arm64.deb",
    ]


def test_the_deb822_sources_file_works_as_published(
    published: Published, apt_get: Apt, tmp_path: Path
) -> None:
    sources = (published.root / "deb" / f"{PROJECT}-testing.sources").read_text()
    keyring = published.root / "keys" / f"{PROJECT}.gpg"
    (tmp_path / "etc" / "sources.list.d").mkdir()
    (tmp_path / "etc" / "sources.list.d" / "demo.sources").write_text(
        sources.replace(f"/etc/apt/keyrings/{PROJECT}.gpg", str(keyring))
    )
    assert apt_get("update", sources="\n").returncode == 0
    policy = apt_get("download", "demo:amd64=1.2.0~rc.1-1")
    assert policy.returncode == 0, policy.stdout + policy.stderr


def test_a_prerelease_lands_in_testing_only(published: Published) -> None:
    stable = (published.root / "deb/dists/stable/main/binary-amd64/Packages").read_text()
    testing = (published.root / "deb/dists/testing/main/binary-amd64/Packages").read_text()
    assert "1.2.0~rc.1" not in stable and "Version: 1.1.0-1" in stable
    assert "Version: 1.2.0~rc.1-1" in testing and "Version: 1.0.0-1" not in testing
    assert not (published.root / "rpm/stable/x86_64/packages/demo-1.2.0~rc.1-1.x86_64.rpm").exists()
    assert (published.root / "rpm/testing/x86_64/packages/demo-1.2.0~rc.1-1.x86_64.rpm").exists()


def test_adding_a_version_rewrites_only_the_changed_indexes(published: Published) -> None:
    assert published.second.skipped_identical == []
    assert sorted(published.second.added)[:2] == [
        "deb/pool/main/d/demo/demo_1.1.0-1_amd64.deb",
        "deb/pool/main/d/demo/demo_1.1.0-1_arm64.deb",
    ]
    # The testing upload left stable's indexes alone.
    assert not any("dists/stable" in path for path in published.prerelease.rewritten)
    release = (published.root / "deb/dists/stable/Release").read_text()
    for field in ("Origin: Example", "Label: Demo Tools", "Suite: stable", "Codename: stable",
                  "Valid-Until: ", "Acquire-By-Hash: yes", "Architectures: amd64 arm64",
                  "SHA512:"):  # fmt: skip
        assert field in release
    # The previous generation stays reachable by hash while clients catch up.
    old_copies = list((published.root / "deb/dists/stable/main/binary-amd64/by-hash").rglob("*"))
    assert any(p.is_file() and p.read_bytes() == published.v1_packages_index for p in old_copies)


def _tamper(root: Path) -> None:
    """Rewrite every Packages index (plain, compressed, by-hash) to claim another version."""
    for index in (root / "deb/dists/stable/main/binary-amd64").rglob("*"):
        if not index.is_file():
            continue
        data = index.read_bytes()
        if data.startswith(b"\xfd7zXZ"):
            index.write_bytes(lzma.compress(lzma.decompress(data).replace(b"1.0.0-1", b"9.0.0-1")))
        elif b"Package:" in data:
            index.write_bytes(data.replace(b"1.0.0-1", b"9.0.0-1"))


def test_a_tampered_packages_index_is_rejected(
    published: Published,
    apt_get: Apt,
    tmp_path: Path,
    serve: Callable[[Path], str],
) -> None:
    tampered = copy_tree(published.root, tmp_path / "tampered")
    _tamper(tampered)
    url = serve(tampered)
    update = apt_get("update", sources=_sources(url, tampered / "keys" / f"{PROJECT}.gpg"))
    assert update.returncode != 0
    assert "Hash Sum mismatch" in update.stdout + update.stderr or "File has unexpected size" in (
        update.stdout + update.stderr
    )


def test_a_client_with_the_wrong_key_refuses_the_repository(
    published: Published, apt_get: Apt, wrong_keyring: Keyring, tmp_path: Path
) -> None:
    _, wrong = wrong_keyring.export(tmp_path)
    update = apt_get("update", sources=_sources(published.url, wrong))
    assert update.returncode != 0
    assert "NO_PUBKEY" in update.stdout + update.stderr
