"""Real zypper, with signature checks and no automatic key import."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import PROJECT, Keyring
from tests.integration.repo.conftest import Published

pytestmark = pytest.mark.integration

Zypper = Callable[..., subprocess.CompletedProcess[str]]


def test_refresh_and_download_with_the_repository_key(published: Published, zypper: Zypper) -> None:
    key = published.root / "keys" / f"{PROJECT}.asc"
    added = zypper("addrepo", f"{published.url}/rpm/{PROJECT}-stable.repo", key=key)
    assert added.returncode == 0, added.stdout + added.stderr
    refreshed = zypper("refresh")
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    download = zypper("download", f"{PROJECT}-1.0.0")
    assert download.returncode == 0, download.stdout + download.stderr
    assert "1.1.0-1" in zypper("search", "--details", PROJECT).stdout


def test_refresh_fails_with_the_wrong_key(
    published: Published, zypper: Zypper, wrong_keyring: Keyring, tmp_path: Path
) -> None:
    armored, _ = wrong_keyring.export(tmp_path)
    assert (
        zypper("addrepo", f"{published.url}/rpm/{PROJECT}-stable.repo", key=armored).returncode == 0
    )
    refreshed = zypper("refresh")
    assert refreshed.returncode != 0
    assert "Signature verification failed" in refreshed.stdout + refreshed.stderr
