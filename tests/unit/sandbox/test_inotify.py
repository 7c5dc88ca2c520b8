"""Booting more servers than the kernel's inotify instances allow is refused, saying how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import SandboxError
from orchestrator.sandbox import servers


def test_servers_past_the_inotify_limit_are_refused_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = tmp_path / "max_user_instances"
    limit.write_text("128\n")
    monkeypatch.setattr(servers, "INOTIFY_LIMIT", limit)
    servers._check_inotify(12)  # the default sandbox's nine, and then some
    with pytest.raises(SandboxError, match=r"sysctl -w fs.inotify.max_user_instances=1024"):
        servers._check_inotify(30)
    limit.write_text("1024\n")
    servers._check_inotify(30)
