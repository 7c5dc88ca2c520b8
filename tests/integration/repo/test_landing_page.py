"""The landing page as a browser shows it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from orchestrator.repo.clientfiles import fingerprint_groups
from tests.integration.conftest import PROJECT, Keyring
from tests.integration.repo.conftest import Published

pytestmark = pytest.mark.integration

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1700",
]  # fmt: skip


def _chromium(profile: Path, *args: str) -> str:
    # Its own session, so that no renderer or zygote outlives the test.
    process = subprocess.Popen(
        ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=90)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    return output


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_landing_page_renders_install_commands(
    published: Published, keyring: Keyring, output_dir: Path, tmp_path: Path
) -> None:
    page = f"{published.url}/index.html"
    screenshot = output_dir / "landing-page.png"
    screenshot.unlink(missing_ok=True)
    _chromium(tmp_path / "profile-shot", f"--screenshot={screenshot}", page)
    assert screenshot.stat().st_size > 10_000
    dom = _chromium(tmp_path / "profile-dom", "--dump-dom", page)
    assert fingerprint_groups(keyring.key.fingerprint) in dom
    for command in (
        f"curl -fsSL {published.url}/keys/{PROJECT}.gpg",
        f"{published.url}/deb/{PROJECT}-stable.sources",
        "sudo apt-get install demo",
        f"{published.url}/rpm/{PROJECT}-testing.repo",
        "sudo dnf install demo",
        f"sudo zypper addrepo {published.url}/rpm/{PROJECT}-stable.repo",
    ):
        assert command in dom
