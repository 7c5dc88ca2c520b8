"""The publish target contract (tests/contracts) against a real repo server and a bucket."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from orchestrator.inventory import S3Publish
from orchestrator.publish.run import resolve, resolve_targets
from orchestrator.tasks.wiring import with_publish_access
from tests.contracts.publish_target import PAGE, check_publish_target
from tests.integration.conftest import SandboxWorld
from tests.integration.publish.conftest import BUCKET

pytestmark = pytest.mark.integration


def _read(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return bytes(answer.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def test_the_repo_server_keeps_the_publish_target_contract(
    repo_world: SandboxWorld, tmp_path: Path
) -> None:
    repo_world.data["publish"][0]["environments_page"] = PAGE
    repo_world.rewrite()
    (target,) = resolve_targets(with_publish_access(repo_world.inventory))
    check_publish_target(target, tmp_path, _read)


def test_a_bucket_keeps_the_publish_target_contract(s3_endpoint: str, tmp_path: Path) -> None:
    config = S3Publish(
        kind="s3", name="spaces", bucket=BUCKET, endpoint=s3_endpoint, prefix="contract",
        url=f"{s3_endpoint}/{BUCKET}/contract", environments_page=PAGE,
    )  # fmt: skip
    check_publish_target(resolve(config), tmp_path, _read)
