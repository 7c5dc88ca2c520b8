"""The landing page as a browser shows it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.repo.clientfiles import fingerprint_groups
from tests.integration.conftest import PROJECT, Keyring, chromium
from tests.integration.repo.conftest import Published

pytestmark = pytest.mark.integration


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_landing_page_renders_install_commands(
    published: Published, keyring: Keyring, output_dir: Path, tmp_path: Path
) -> None:
    page = f"{published.url}/index.html"
    screenshot = output_dir / "landing-page.png"
    screenshot.unlink(missing_ok=True)
    chromium(tmp_path / "profile-shot", f"--screenshot={screenshot}", page, window="1280,1700")
    assert screenshot.stat().st_size > 10_000
    dom = chromium(tmp_path / "profile-dom", "--dump-dom", page, window="1280,1700")
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
