"""Publishing to an S3-compatible bucket: diff against a manifest object, upload in order.

A publish, under the bucket's lock (a conditional PUT of ``.orchestrator/lock``): read the
manifest object; upload the new and changed files tier by tier (see
:mod:`orchestrator.publish.s3.order`), in parallel within a tier; write the new manifest.
Objects the tree no longer lists are only marked retired in the manifest: ``invoke
repo.gc`` deletes them once they have been retired longer than the grace period, so a
client (or a CDN) holding older metadata still finds what it names. A no-op publish makes
three requests: take the lock, read the manifest, release the lock.

The lock relies on ``If-None-Match: *`` on PUT (answered 412 when the object exists),
which AWS S3, DigitalOcean Spaces, MinIO and moto honour; a store that ignores it cannot
keep two publishers apart, so publish from one place there.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from orchestrator.config.inventory import S3Publish
from orchestrator.engine.locks import LockDetails, LockWaiter, new_details, parse_details
from orchestrator.errors import ArchiveError, PublishError
from orchestrator.publish.info import Clock, PublishedTo, PublishInfo, Say, utc_now
from orchestrator.publish.ledger import MAX_BYTES as LEDGER_BYTES
from orchestrator.publish.ledger import TASK as LEDGER_TASK
from orchestrator.publish.ledger import DeployFailure, Failures, parse_ledger, with_failure
from orchestrator.publish.local import LocalTree
from orchestrator.publish.manifest import Manifest, changes, expired, next_manifest
from orchestrator.publish.s3.bucket import LEDGER_KEY, LOCK_KEY, MANIFEST_KEY, Bucket, make_client
from orchestrator.publish.s3.order import Job, upload_tiers
from orchestrator.publish.target import page_path
from orchestrator.remote.archive import checked_name
from orchestrator.repo.layout import PUBLISHED


@dataclass(frozen=True)
class S3Target:
    """A bucket from the inventory and a client for it (a :class:`PublishTarget`)."""

    config: S3Publish
    client: Any
    clock: Clock = utc_now

    def bucket(self) -> Bucket:
        """The bucket prefix this target publishes to."""
        return Bucket(self.config, self.client)

    @property
    def name(self) -> str:
        """The inventory's name of the bucket."""
        return self.config.name

    @property
    def where(self) -> str:
        """The bucket in words, for messages."""
        return self.bucket().where

    @property
    def url(self) -> str:
        """The public URL of the prefix."""
        return self.config.url.rstrip("/")

    def served(self) -> Manifest:
        """The bucket's manifest object; empty if there is none yet."""
        return read_manifest(self.bucket())

    def publish(
        self, tree: LocalTree, release: PublishInfo, *, lock_wait: float, say: Say,
        allow_removals: bool = False,
    ) -> PublishedTo:  # fmt: skip
        """Upload what changed in ``tree`` in a safe order, then record the new manifest."""
        bucket = self.bucket()
        details = new_details(release.run_id, release.tag, self.clock())
        with holding_bucket_lock(bucket, details, lock_wait, say):
            previous = read_manifest(bucket)
            if not allow_removals:
                tree.check_keeps(previous, bucket.where)
            following = next_manifest(previous, tree.files, self.clock(), None)
            uploads: list[str] = []
            if following.files != previous.files:
                uploads = changes(previous, following).upload
                say(f"{bucket.where}: {len(uploads)} object(s) to upload")
                upload_in_order(bucket, tree, uploads, self.config.concurrency)
                bucket.write_private(MANIFEST_KEY, following.to_json())
        return PublishedTo(
            name=self.config.name,
            url=self.url,
            key_url=f"{self.url}/{tree.key_file()}",
            snapshot=None,
            uploaded=len(uploads),
            unchanged=following.files == previous.files,
        )

    def fetch(self, tree: Path) -> Manifest:
        """Every object of the bucket's manifest, into the new directory ``tree``; the manifest.

        Each object is streamed to its file, in parallel, and may be no larger than the
        manifest says.
        """
        bucket = self.bucket()
        served = read_manifest(bucket)
        if not served.files:
            raise PublishError(f"{bucket.where} publishes nothing yet: there is no tree to pull")
        tree.mkdir(mode=0o700)

        def fetch_one(path: str) -> None:
            try:
                safe = checked_name(path) == path and path.split("/", 1)[0] in PUBLISHED
            except ArchiveError:
                safe = False
            if not safe:
                raise PublishError(f"{bucket.where}: the manifest lists an unsafe path {path!r}")
            # Only this fetch writes under the fresh tree, and never a link: no path leads out.
            (tree / path).parent.mkdir(parents=True, exist_ok=True)
            if not bucket.download(path, tree / path, served.files[path].size):
                raise PublishError(
                    f"{bucket.where}: {path} is in the manifest but not in the bucket: publish "
                    "the bucket again from a complete tree"
                )

        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            list(pool.map(fetch_one, sorted(served.files)))
        return served

    def publish_page(self, page: bytes, *, run_id: str, lock_wait: float, say: Say) -> str:
        """Store the page as one object: one PUT replaces it whole (see the protocol).

        No lock, so ``lock_wait`` and ``run_id`` go unused: a publish of the tree never
        writes, lists or deletes that object, and one PUT cannot be seen half done.
        """
        bucket = self.bucket()
        path = page_path(self.config, bucket.where)
        if not read_manifest(bucket).files:
            raise PublishError(
                f"{bucket.where} publishes nothing yet: release first, then publish the "
                "environments page beside the repositories"
            )
        with tempfile.TemporaryDirectory(prefix="orc-page-") as work:
            source = Path(work) / "page.html"
            source.write_bytes(page)
            bucket.upload(path, source)
        return f"{self.url}/{path}"

    def unpublish_page(self, *, run_id: str, lock_wait: float, say: Say) -> str:
        """Delete the page's object (see the protocol); one request, so no lock."""
        bucket = self.bucket()
        path = page_path(self.config, bucket.where)
        bucket.delete(path)
        return f"{self.url}/{path}"

    def deploy_failures(self) -> Failures:
        """The deploy ledger object, read without the lock (see the protocol)."""
        return read_ledger(self.bucket())[0]

    def record_deploy_failure(
        self, environment: str, failure: DeployFailure, *, lock_wait: float, say: Say
    ) -> Failures:
        """Rewrite the ledger object with ``failure`` under the bucket's lock.

        The PUT is conditional on the object read (its ETag, or none): one PUT replaces it
        whole, and a writer that broke the lock meanwhile is not overwritten.
        """
        bucket = self.bucket()
        details = new_details(failure.run_id, LEDGER_TASK, self.clock())
        with holding_bucket_lock(bucket, details, lock_wait, say):
            failures, etag = read_ledger(bucket)
            ledger, data = with_failure(failures, environment, failure, bucket.where)
            bucket.write_private(LEDGER_KEY, data, replacing=etag)
        return ledger

    def unlock(self, *, force: bool) -> str | None:
        """The lock holder's details (None if unlocked); with ``force`` the lock is deleted."""
        bucket = self.bucket()
        held = bucket.read(LOCK_KEY)
        if force and held is not None:
            bucket.delete(LOCK_KEY)
        return None if held is None else held.decode("utf-8", errors="replace")


def s3_target(config: S3Publish) -> S3Target:
    """The target with a client made from the environment's credentials."""
    return S3Target(config, make_client(config))


def _attempt(bucket: Bucket, details: LockDetails) -> str | None:
    if bucket.create(LOCK_KEY, details.render().encode("utf-8")):
        return None
    held = bucket.read(LOCK_KEY)
    return "" if held is None else held.decode("utf-8", errors="replace")


def _break(bucket: Bucket, holder: LockDetails) -> None:
    held = bucket.read(LOCK_KEY)
    current = parse_details(held.decode("utf-8", errors="replace")) if held else None
    if current is not None and current.token == holder.token:
        bucket.delete(LOCK_KEY)


@contextmanager
def holding_bucket_lock(
    bucket: Bucket, details: LockDetails, wait_for: float, say: Say
) -> Iterator[None]:
    """Hold the bucket's lock object; deleted on every way out."""
    force = f"invoke repo.unlock --force --target {bucket.target.name}"
    LockWaiter(
        bucket.where,
        force,
        lambda: _attempt(bucket, details),
        lambda h: _break(bucket, h),
        say,
    ).acquire(wait_for)
    try:
        yield
    finally:
        try:
            bucket.delete(LOCK_KEY)
        except PublishError as error:
            say(f"{error}; the lock stays: {force}")


def read_ledger(bucket: Bucket) -> tuple[Failures, str]:
    """The bucket's deploy ledger and its ETag; empty, with ``""``, if there is none yet."""
    # One byte more than a ledger may have, so that parsing names an oversized one.
    found = bucket.read_tagged(LEDGER_KEY, LEDGER_BYTES + 1)
    if found is None:
        return {}, ""
    return parse_ledger(found[0], bucket.where), found[1]


def read_manifest(bucket: Bucket) -> Manifest:
    """The bucket's manifest; empty if there is none yet."""
    data = bucket.read(MANIFEST_KEY)
    return Manifest() if data is None else Manifest.from_json(data, f"{bucket.where}: manifest")


def _upload_job(bucket: Bucket, tree: LocalTree, job: Job) -> None:
    for path in job:
        bucket.upload(path, tree.path(path))


def upload_in_order(bucket: Bucket, tree: LocalTree, paths: list[str], concurrency: int) -> None:
    """Upload tier after tier, in parallel within a tier; stop at the first failure."""
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="s3-upload") as pool:
        for jobs in upload_tiers(paths):
            futures = [pool.submit(_upload_job, bucket, tree, job) for job in jobs]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
            for future in done:
                # The first failure is raised before any later tier starts.
                future.result()


@dataclass(frozen=True)
class Collected:
    """What a garbage collection deleted, and how many retired objects wait for their turn."""

    deleted: list[str]
    waiting: int


def collect_garbage(
    target: S3Target,
    *,
    run_id: str,
    lock_wait: float,
    say: Say,
    clock: Clock = utc_now,
) -> Collected:
    """Delete objects retired longer than the target's grace period ago."""
    bucket = target.bucket()
    grace = timedelta(hours=target.config.gc_grace_hours)
    with holding_bucket_lock(bucket, new_details(run_id, "", clock()), lock_wait, say):
        manifest = read_manifest(bucket)
        gone, kept = expired(manifest, clock() - grace)
        if gone:
            bucket.delete_many(gone)
            bucket.write_private(MANIFEST_KEY, kept.to_json())
    return Collected(gone, len(kept.retired))
