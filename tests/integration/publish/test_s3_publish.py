"""Publishing to a bucket (moto's S3 server on 127.0.0.1): requests, headers, gc, tasks."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.config.inventory import S3Publish
from orchestrator.errors import PublishError
from orchestrator.publish.info import PublishInfo
from orchestrator.publish.local import scan_tree
from orchestrator.publish.manifest import Manifest
from orchestrator.publish.pull import pull_tree
from orchestrator.publish.run import publish_tree
from orchestrator.publish.s3.bucket import MANIFEST_KEY
from orchestrator.publish.s3.order import IMMUTABLE, METADATA
from orchestrator.publish.s3.target import S3Target, collect_garbage, s3_target
from tests.integration.conftest import SandboxWorld
from tests.integration.publish.conftest import BUCKET, TreeVersions

pytestmark = pytest.mark.integration


class Requests:
    """Every request a boto3 client sends: method and path."""

    def __init__(self, target: S3Target) -> None:
        self.sent: list[tuple[str, str]] = []
        self.md5: list[bool] = []
        target.client.meta.events.register("before-send.s3", self._record)

    def _record(self, request: Any, **_: Any) -> None:
        self.sent.append((request.method, request.url.split("/", 3)[3]))
        self.md5.append("Content-MD5" in request.headers)

    def take(self) -> list[tuple[str, str]]:
        sent, self.sent = self.sent, []
        return sent


def _target(endpoint: str, **fields: Any) -> S3Target:
    config = S3Publish(
        kind="s3", name="spaces", bucket=BUCKET, endpoint=endpoint, prefix="repo",
        url=f"{endpoint}/{BUCKET}/repo", **fields,
    )  # fmt: skip
    return s3_target(config)


def _publish(target: S3Target, tree_versions: TreeVersions, index: int) -> None:
    version = tree_versions.versions[index]
    release = PublishInfo("20261122t000000-c0ffee", f"v{version}", version)
    publish_tree(tree_versions.trees[index], [target], release=release, lock_wait=5)


def _manifest(target: S3Target) -> Manifest:
    body = target.client.get_object(Bucket=BUCKET, Key=f"repo/{MANIFEST_KEY}")["Body"].read()
    return Manifest.from_json(body, "manifest")


def test_requests_headers_and_garbage_collection(
    s3_endpoint: str, tree_versions: TreeVersions
) -> None:
    target = _target(s3_endpoint)
    requests = Requests(target)
    for index in range(3):
        _publish(target, tree_versions, index)
    assert all(not path.endswith(("repo", "repo/")) and "list-type" not in path
               for _, path in requests.take())  # fmt: skip

    _publish(target, tree_versions, 2)
    assert sorted(method for method, _ in requests.take()) == ["DELETE", "GET", "PUT"]

    _publish(target, tree_versions, 3)
    uploads = [path for method, path in requests.take() if method == "PUT"]
    new_pool = [path for path in uploads if "/pool/" in path or "/packages/" in path]
    assert sorted(p.rsplit("/", 1)[1] for p in new_pool) == [
        "demo-1.3.0-1.aarch64.rpm", "demo-1.3.0-1.x86_64.rpm",
        "demo_1.3.0-1_amd64.deb", "demo_1.3.0-1_arm64.deb",
    ]  # fmt: skip
    assert all("/dists/" in p or "/repodata/" in p or p in new_pool or MANIFEST_KEY in p
               or p.endswith(".orchestrator/lock") or p.endswith("index.html") for p in uploads)  # fmt: skip

    def header(path: str) -> str:
        with urllib.request.urlopen(f"{target.config.url}/{path}") as response:
            return str(response.headers["Cache-Control"])

    assert header("deb/pool/main/d/demo/demo_1.3.0-1_amd64.deb") == IMMUTABLE
    assert header("deb/dists/stable/InRelease") == METADATA
    assert header("rpm/stable/x86_64/repodata/repomd.xml") == METADATA

    # Publishing 1.3.0 pruned 1.0.0: its packages are retired, still there until gc and grace.
    retired = sorted(_manifest(target).retired)
    assert "deb/pool/main/d/demo/demo_1.0.0-1_amd64.deb" in retired
    assert collect_garbage(target, run_id="r", lock_wait=5, say=print).deleted == []
    urllib.request.urlopen(f"{target.config.url}/deb/pool/main/d/demo/demo_1.0.0-1_amd64.deb")

    immediate = _target(s3_endpoint, gc_grace_hours=0)
    deletes = Requests(immediate)
    collected = collect_garbage(immediate, run_id="r", lock_wait=5, say=print)
    # S3-compatible stores (MinIO...) refuse a DeleteObjects without Content-MD5.
    assert [md5 for (method, _), md5 in zip(deletes.sent, deletes.md5, strict=True)
            if method == "POST"] == [True]  # fmt: skip
    assert collected.deleted == retired and collected.waiting == 0
    assert _manifest(target).retired == {}
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(f"{target.config.url}/deb/pool/main/d/demo/demo_1.0.0-1_amd64.deb")
    urllib.request.urlopen(f"{target.config.url}/deb/pool/main/d/demo/demo_1.3.0-1_amd64.deb")


def test_a_tree_without_published_packages_is_refused(
    s3_endpoint: str, tree_versions: TreeVersions
) -> None:
    target = _target(s3_endpoint)
    _publish(target, tree_versions, 2)
    before = _manifest(target)

    # The 1.0.0 tree lacks 1.1.0 and 1.2.0, and was never pruned of them.
    with pytest.raises(PublishError, match=r"lacks 8 package\(s\) published there"):
        _publish(target, tree_versions, 0)
    assert _manifest(target) == before
    urllib.request.urlopen(f"{target.config.url}/deb/pool/main/d/demo/demo_1.2.0-1_amd64.deb")

    release = PublishInfo("20261122t000000-c0ffee", "v1.0.0", "1.0.0")
    publish_tree(
        tree_versions.trees[0], [target], release=release, lock_wait=5, allow_removals=True
    )
    assert _manifest(target).files == scan_tree(tree_versions.trees[0]).files


def test_a_tree_pulled_from_a_bucket_is_the_published_one(
    s3_endpoint: str, tree_versions: TreeVersions, tmp_path: Path
) -> None:
    target = _target(s3_endpoint)
    with pytest.raises(PublishError, match="publishes nothing yet"):
        pull_tree(target, tmp_path / "empty")
    assert not (tmp_path / "empty").exists()
    _publish(target, tree_versions, 2)
    _publish(target, tree_versions, 3)

    pulled = tmp_path / "pulled"
    assert pull_tree(target, pulled) == len(_manifest(target).files)
    assert scan_tree(pulled).files == scan_tree(tree_versions.trees[3]).files


def test_the_tasks_with_a_bucket(
    repo_world: SandboxWorld, s3_endpoint: str, tree_versions: TreeVersions
) -> None:
    url = f"{s3_endpoint}/{BUCKET}"
    repo_world.data["publish"] = [
        {"kind": "s3", "name": "spaces", "bucket": BUCKET, "endpoint": s3_endpoint, "url": url}
    ]
    repo_world.inventory_path.write_text(yaml.safe_dump(repo_world.data))
    tree = str(tree_versions.trees[4])

    published = repo_world.invoke("repo.publish", "--repo", tree, "--to", "spaces")
    assert published.returncode == 0, published.stdout + published.stderr
    assert "published to spaces: (" in published.stdout and "file(s) uploaded" in published.stdout
    assert "(unchanged)" in repo_world.invoke("repo.publish", "--repo", tree).stdout
    assert "not locked" in repo_world.invoke("repo.unlock", "--target", "spaces").stdout
    collected = repo_world.invoke("repo.gc")
    assert "spaces: deleted 0 object(s); 0 retired object(s)" in collected.stdout, collected.stderr

    verified = repo_world.invoke("verify", "--version", "1.4.0")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert Counter(line.split()[1] for line in verified.stdout.splitlines() if " ok: " in line) == {
        "apt": 2, "dnf": 2, "zypper": 1,
    }  # fmt: skip
    assert "no repo server" in repo_world.invoke("repo.snapshots").stderr
