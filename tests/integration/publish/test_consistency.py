"""Twenty versions published one after another while apt and dnf poll the repository.

Clients must never see a hash mismatch, a bad signature or a missing file: neither from
the repo server (snapshot swap) nor from a bucket (ordered uploads, retired objects kept).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli.wiring.publish import with_publish_access
from orchestrator.config.inventory import S3Publish
from orchestrator.publish.info import PublishInfo
from orchestrator.publish.run import publish_tree, resolve, resolve_targets
from orchestrator.publish.target import PublishTarget
from orchestrator.verify.clients import AptClient
from tests.integration.conftest import PROJECT, Keyring, SandboxWorld
from tests.integration.publish.conftest import (
    BUCKET,
    ClientLoop,
    TreeVersions,
    repo_url,
)

pytestmark = pytest.mark.integration


def _publish_all(target: PublishTarget, tree_versions: TreeVersions, start: int) -> None:
    for tree, version in list(zip(tree_versions.trees, tree_versions.versions, strict=True))[
        start:
    ]:
        release = PublishInfo(run_id="20261122t000000-c0ffee", tag=f"v{version}", version=version)
        publish_tree(tree, [target], release=release, lock_wait=30, say=lambda line: None)


def _under_load(
    target: PublishTarget, url: str, tree_versions: TreeVersions, keyring: Keyring, work: Path
) -> None:
    first = PublishInfo(run_id="20261122t000000-c0ffee", tag="v1.0.0", version="1.0.0")
    publish_tree(tree_versions.trees[0], [target], release=first, lock_wait=30, say=print)
    with ClientLoop(url, keyring, work) as loop:
        _publish_all(target, tree_versions, 1)

    assert dict(loop.failures) == {}, f"{dict(loop.runs)}\n" + "\n---\n".join(loop.examples[:3])
    assert loop.runs["apt"] >= 5 and loop.runs["dnf"] >= 4, loop.runs

    _, binary = keyring.export(work)
    fresh = AptClient(work / "fresh")
    update = fresh("update", sources=f"deb [signed-by={binary}] {url}/deb stable main\n")
    assert update.returncode == 0, update.stdout + update.stderr
    newest = f"{PROJECT}:amd64={tree_versions.versions[-1]}-1"
    assert fresh("download", newest).returncode == 0


def test_the_repo_server_under_load(
    repo_world: SandboxWorld, tree_versions: TreeVersions, keyring: Keyring, tmp_path: Path
) -> None:
    (target,) = resolve_targets(with_publish_access(repo_world.inventory))
    _under_load(target, repo_url(repo_world), tree_versions, keyring, tmp_path)


def test_a_bucket_under_load(
    s3_endpoint: str, tree_versions: TreeVersions, keyring: Keyring, tmp_path: Path
) -> None:
    url = f"{s3_endpoint}/{BUCKET}/repo"
    config = S3Publish(
        kind="s3", name="spaces", bucket=BUCKET, endpoint=s3_endpoint, prefix="repo", url=url,
        concurrency=8,
    )  # fmt: skip
    _under_load(resolve(config), url, tree_versions, keyring, tmp_path)
