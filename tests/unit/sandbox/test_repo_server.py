"""The sandbox repo server's settings and commands (no process started here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.sandbox import reposerver


def test_defaults_stay_out_of_the_droplet_pool() -> None:
    settings = SandboxSettings()
    assert (settings.repo_server_address, settings.repo_http_port) == ("127.76.0.1", 8758)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"repo_server_address": "127.77.0.9"}, "inside address_pool"),
        ({"repo_server_address": "10.0.0.1"}, "outside 127.0.0.0/8"),
        ({"repo_server_address": "repo"}, "must be an IPv4 address"),
        ({"repo_http_port": 0}, "greater than or equal to 1"),
    ],
)
def test_invalid_repo_server_settings(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SandboxSettings.model_validate(values)


def test_the_http_server_serves_current_and_is_found_by_its_directory(tmp_path: Path) -> None:
    settings = SandboxSettings(state_dir=tmp_path, repo_server_address="127.9.0.1")
    command = reposerver.http_command(settings)

    assert reposerver.directory(settings) == tmp_path / "reposerver"
    assert reposerver.served_directory(settings) == tmp_path / "reposerver/root/repo/current"
    assert command[:5] == ["unshare", "--fork", "--pid", "--kill-child", "--"]
    assert command[-6:] == [
        "--root", str(tmp_path / "reposerver/root/repo/current"),
        "--address", "127.9.0.1", "--port", "8758",
    ]  # fmt: skip
    # hosts.host_processes finds a host's processes by its directory on the command line.
    assert f"{reposerver.directory(settings)}/" in " ".join(command)


def test_the_host_lets_in_the_generated_client_key(tmp_path: Path) -> None:
    settings = SandboxSettings(state_dir=tmp_path)
    spec = reposerver.host_spec(settings)

    assert (spec.address, spec.port) == ("127.76.0.1", 22)
    key = tmp_path / "reposerver" / reposerver.CLIENT_KEY
    assert key.stat().st_mode & 0o777 == 0o600
    assert spec.authorized_keys[0].startswith("ssh-ed25519 ")
    assert reposerver.host_spec(settings).authorized_keys == spec.authorized_keys


def test_a_busy_repo_server_missing_one_probe_is_not_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another run's publish keeps it busy: one probe fails, the next answers. A restart
    # would cut that run's SSH session mid-publish.
    settings = SandboxSettings(state_dir=tmp_path)
    answers = iter([False, False, True])
    restarted = []
    monkeypatch.setattr(reposerver, "is_running", lambda _settings: next(answers))
    monkeypatch.setattr(reposerver, "processes", lambda _settings: [4242])
    monkeypatch.setattr(reposerver, "stop", lambda _settings: restarted.append("stop"))
    monkeypatch.setattr(reposerver, "start", lambda _settings: restarted.append("start"))
    reposerver.ensure_running(settings)
    assert restarted == []
    # One with no process left is started again at once.
    monkeypatch.setattr(reposerver, "is_running", lambda _settings: False)
    monkeypatch.setattr(reposerver, "processes", lambda _settings: [])
    reposerver.ensure_running(settings)
    assert restarted == ["stop", "start"]
