from __future__ import annotations

import pytest

from orchestrator.config.inventory import S3Publish
from orchestrator.errors import CredentialsError
from orchestrator.publish.s3.bucket import make_client

TARGET = S3Publish(
    kind="s3", name="spaces", bucket="b", endpoint="http://127.0.0.1:9", url="https://b.example"
)


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    # Never ask the cloud metadata service (an address off the loopback).
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.usefixtures("no_credentials")
def test_missing_credentials_say_which_variables_to_set() -> None:
    with pytest.raises(CredentialsError, match="set SPACES_KEY and SPACES_SECRET"):
        make_client(TARGET, {})


@pytest.mark.usefixtures("no_credentials")
def test_spaces_variables_are_used() -> None:
    client = make_client(TARGET, {"SPACES_KEY": "k", "SPACES_SECRET": "s"})
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client._request_signer._credentials.access_key == "k"
