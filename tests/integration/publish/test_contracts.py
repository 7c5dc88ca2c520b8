"""The publish target contract (tests/contracts) against a real repo server and a bucket."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest

from orchestrator.cli.wiring.publish import with_publish_access
from orchestrator.config.inventory import S3Publish
from orchestrator.publish.ledger import FILE as LEDGER
from orchestrator.publish.run import resolve, resolve_targets
from tests.contracts.publish_target import (
    FAILED,
    PAGE,
    check_deploy_ledger,
    check_publish_target,
)
from tests.integration.conftest import SandboxWorld
from tests.integration.publish.conftest import BUCKET, web_root

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


def test_the_repo_server_keeps_the_deploy_ledger_contract(
    repo_world: SandboxWorld, tmp_path: Path
) -> None:
    (target,) = resolve_targets(with_publish_access(repo_world.inventory))
    ledger = web_root(repo_world) / LEDGER

    def store(data: bytes) -> None:
        ledger.write_bytes(data)

    check_deploy_ledger(target, tmp_path, _read, store)
    # In the web root, beside snapshots/ and current: the web server serves current only.
    assert ledger.stat().st_mode & 0o777 == 0o600
    assert not list(web_root(repo_world).glob(".deploys-upload"))


def _bucket(s3_endpoint: str) -> S3Publish:
    return S3Publish(
        kind="s3", name="spaces", bucket=BUCKET, endpoint=s3_endpoint, prefix="contract",
        url=f"{s3_endpoint}/{BUCKET}/contract", environments_page=PAGE,
    )  # fmt: skip


def test_a_bucket_keeps_the_publish_target_contract(s3_endpoint: str, tmp_path: Path) -> None:
    check_publish_target(resolve(_bucket(s3_endpoint)), tmp_path, _read)


def test_a_bucket_keeps_the_deploy_ledger_contract(s3_endpoint: str, tmp_path: Path) -> None:
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    key = f"contract/.orchestrator/{LEDGER}"

    def store(data: bytes) -> None:
        client.put_object(Bucket=BUCKET, Key=key, Body=data)

    target = resolve(_bucket(s3_endpoint))
    check_deploy_ledger(target, tmp_path, _read, store)
    # Written by the tool beside the manifest, with no public grant (the tree's objects are
    # public-read).
    target.record_deploy_failure("dev", FAILED, lock_wait=5, say=print)
    grants = client.get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
    assert not [g for g in grants if "AllUsers" in str(g.get("Grantee", {}).get("URI", ""))]
