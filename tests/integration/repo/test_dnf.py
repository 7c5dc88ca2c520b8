"""Real dnf (gpgcheck=1, repo_gpgcheck=1) against repositories built by this tool."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import PROJECT, Keyring
from tests.integration.repo.conftest import Published, copy_tree

pytestmark = pytest.mark.integration

Dnf = Callable[..., subprocess.CompletedProcess[str]]


def _repo_file(published: Published, channel: str = "stable") -> str:
    text = (published.root / "rpm" / f"{PROJECT}-{channel}.repo").read_text()
    assert "gpgcheck=1\nrepo_gpgcheck=1\n" in text
    return text


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_install_with_signature_checks(published: Published, dnf: Dnf, arch: str) -> None:
    installed = dnf(arch, _repo_file(published), "install", f"{PROJECT}-1.0.0")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    # The newer version, in a second transaction on the same root.
    upgraded = dnf(arch, _repo_file(published), "upgrade", PROJECT)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    query = subprocess.run(
        ["rpm", "--root", str(Path(_root_of(installed))), "-q", PROJECT],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert query.stdout.strip() == f"{PROJECT}-1.1.0-1.{arch}"


def _root_of(result: subprocess.CompletedProcess[str]) -> str:
    return next(str(a).split("=", 1)[1] for a in result.args if str(a).startswith("--installroot="))


def test_testing_channel_offers_the_prerelease(published: Published, dnf: Dnf) -> None:
    listed = dnf("x86_64", _repo_file(published, "testing"), "list", "--available", PROJECT)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "1.2.0~rc.1-1" in listed.stdout


def test_packages_are_signed_by_the_repository_key(published: Published, keyring: Keyring) -> None:
    package = published.root / "rpm/stable/aarch64/packages/demo-1.0.0-1.aarch64.rpm"
    info = subprocess.run(
        ["rpm", "-qpi", "--nosignature", str(package)], capture_output=True, text=True, check=True
    )
    signature = next(line for line in info.stdout.splitlines() if line.startswith("Signature"))
    assert "RSA/SHA512" in signature
    assert keyring.key.fingerprint[-16:].lower() in signature.lower()


def test_a_tampered_repomd_is_rejected(
    published: Published, dnf: Dnf, tmp_path: Path, serve: Callable[[Path], str]
) -> None:
    tampered = copy_tree(published.root, tmp_path / "tampered")
    repomd = tampered / "rpm/stable/x86_64/repodata/repomd.xml"
    repomd.write_text(repomd.read_text().replace("<revision>", "<revision>9"))
    url = serve(tampered)
    repo_file = _repo_file(published).replace(published.url, url)
    result = dnf("x86_64", repo_file, "makecache")
    assert result.returncode != 0
    assert "Bad GPG signature" in result.stdout + result.stderr


def test_a_client_with_the_wrong_key_fails(
    published: Published, dnf: Dnf, wrong_keyring: Keyring, tmp_path: Path
) -> None:
    armored, _ = wrong_keyring.export(tmp_path)
    repo_file = _repo_file(published).replace(
        f"{published.url}/keys/{PROJECT}.asc", f"file://{armored}"
    )
    result = dnf("x86_64", repo_file, "install", PROJECT)
    assert result.returncode != 0
    assert not list((tmp_path / "root-x86_64").glob("usr/share/demo/*"))
