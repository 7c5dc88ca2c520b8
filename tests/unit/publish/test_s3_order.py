"""The bucket publisher's ordering, with a recording bucket instead of a network."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config.inventory import S3Publish
from orchestrator.errors import PublishError
from orchestrator.publish.local import LocalTree
from orchestrator.publish.s3.bucket import Bucket
from orchestrator.publish.s3.order import tier
from orchestrator.publish.s3.target import upload_in_order
from tests.unit.publish.test_order import PATHS

TARGET = S3Publish(kind="s3", name="spaces", bucket="b", url="https://b.example", prefix="/repo/")


class RecordingBucket(Bucket):
    def __init__(self, fail: str | None = None) -> None:
        super().__init__(TARGET, client=None)
        self.fail = fail
        self.started: list[str] = []
        self.finished: list[str] = []
        self.lock = threading.Lock()

    def upload(self, path: str, source: Path) -> None:
        with self.lock:
            self.started.append(path)
        time.sleep(0.01)
        if path == self.fail:
            raise PublishError(f"uploading {path} failed")
        with self.lock:
            self.finished.append(path)


def _tree(tmp_path: Path) -> LocalTree:
    return LocalTree(tmp_path, {})


def test_each_tier_finishes_before_the_next_starts(tmp_path: Path) -> None:
    bucket = RecordingBucket()
    upload_in_order(bucket, _tree(tmp_path), PATHS, concurrency=8)

    assert sorted(bucket.finished) == sorted(PATHS)
    tiers = [tier(path) for path in bucket.started]
    assert tiers == sorted(tiers)
    # Every upload of a tier started after every upload of the tiers before it ended.
    for index, path in enumerate(bucket.started):
        earlier = [p for p in PATHS if tier(p) < tier(path)]
        assert set(earlier) <= set(bucket.finished[: bucket.finished.index(path)]), path
        assert index >= len(earlier)
    repomd = [p for p in bucket.started if "repomd" in p]
    assert repomd == [
        "rpm/stable/x86_64/repodata/repomd.xml.asc",
        "rpm/stable/x86_64/repodata/repomd.xml",
    ]


def test_a_failure_stops_before_any_metadata(tmp_path: Path) -> None:
    bucket = RecordingBucket(fail="deb/pool/main/d/demo/demo_1.0.0-1_amd64.deb")
    with pytest.raises(PublishError, match=r"demo_1\.0\.0-1_amd64\.deb failed"):
        upload_in_order(bucket, _tree(tmp_path), PATHS, concurrency=2)
    assert all(tier(path) == 0 for path in bucket.started)


def test_keys_carry_the_prefix() -> None:
    bucket: Any = RecordingBucket()
    assert bucket.key("deb/x") == "repo/deb/x"
    assert "s3://b/repo" in bucket.where
