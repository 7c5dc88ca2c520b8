"""The sandbox index's token: whole or absent, never empty for good."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

import pytest

from orchestrator.sandbox import pyindex


def test_an_interrupt_while_making_the_token_leaves_no_empty_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = secrets.token_urlsafe

    def interrupted(size: int) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(secrets, "token_urlsafe", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pyindex._token(tmp_path)
    monkeypatch.setattr(secrets, "token_urlsafe", real)
    assert pyindex._token(tmp_path)


def test_an_empty_token_file_is_made_again(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("")
    token = pyindex._token(tmp_path)
    assert len(token) >= 24
    assert (tmp_path / "token").read_text() == token
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600
    assert pyindex._token(tmp_path) == token
