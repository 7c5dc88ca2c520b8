from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.config.inventory import S3Publish, SshPublish
from orchestrator.errors import UsageError
from orchestrator.publish.run import select, ssh_access


def _server(**fields: object) -> SshPublish:
    values: dict[str, object] = {
        "kind": "ssh", "name": "repo", "host": "repo.example.org", "path": "/srv/repo/",
        "url": "https://repo.example.org", "host_key": "ssh-ed25519 AAAAkey comment",
    }  # fmt: skip
    return SshPublish.model_validate({**values, **fields})


def test_a_server_is_reached_with_its_pinned_key() -> None:
    access = ssh_access(_server(identity_file=Path("/keys/deploy"), user="deploy"))

    assert (access.address, access.port, access.user) == ("repo.example.org", 22, "deploy")
    assert access.host_key == "ssh-ed25519 AAAAkey"
    assert access.identity_file == "/keys/deploy"
    assert _server().path == "/srv/repo"


def test_a_server_without_host_key_is_refused() -> None:
    with pytest.raises(
        UsageError, match=r"needs host_key.*ssh-keyscan -t ed25519 repo\.example\.org"
    ):
        ssh_access(_server(host_key=None))
    with pytest.raises(UsageError, match=r"host_key 'sandbox' names the sandbox's repo server"):
        ssh_access(_server(host_key="sandbox"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host_key": "AAAA"}, "expected a public key line"),
        ({"path": "srv/repo"}, "must be an absolute directory"),
        ({"path": "/"}, "must be an absolute directory"),
    ],
)
def test_invalid_servers(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _server(**fields)


def test_selecting_targets() -> None:
    bucket = S3Publish(kind="s3", name="spaces", bucket="b", url="https://b.example")
    targets: list[SshPublish | S3Publish] = [_server(), bucket]

    assert select(targets, None) == targets
    assert select(targets, "spaces") == [bucket]
    with pytest.raises(UsageError, match=r"no publish target named 'x' \(targets: repo, spaces\)"):
        select(targets, "x")
    with pytest.raises(UsageError, match="no publish targets"):
        select([], None)
