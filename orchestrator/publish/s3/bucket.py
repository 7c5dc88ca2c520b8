"""One S3-compatible bucket prefix (AWS S3, DigitalOcean Spaces, MinIO) through boto3.

Credentials: ``SPACES_KEY`` and ``SPACES_SECRET`` when both are set, else boto3's standard
chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, profiles). Every request names one
object: nothing here lists the bucket.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from orchestrator.config.credentials import SPACES_KEY, SPACES_SECRET
from orchestrator.config.inventory import S3Publish
from orchestrator.errors import CredentialsError, PublishError
from orchestrator.publish.ledger import FILE as LEDGER
from orchestrator.publish.s3.order import cache_control, content_type

if TYPE_CHECKING:
    from botocore.config import Config

CONTROL_DIR = ".orchestrator"
MANIFEST_KEY = f"{CONTROL_DIR}/manifest.json"
LOCK_KEY = f"{CONTROL_DIR}/lock"
LEDGER_KEY = f"{CONTROL_DIR}/{LEDGER}"
# The most one PUT may carry; larger files would need multipart uploads.
MAX_PUT = 5 * 1024**3
# DeleteObjects takes at most this many keys per request.
DELETE_BATCH = 1000
_HELD = ("PreconditionFailed", "ConditionalRequestConflict")
_MISSING = ("NoSuchKey", "404", "NotFound")
_CHUNK = 1 << 20
# The manifest and the lock; a manifest of about half a million files fits.
MAX_CONTROL = 64 << 20


def _client_config(concurrency: int) -> Config:
    from botocore.config import Config  # deferred: see make_client

    return Config(
        max_pool_connections=concurrency + 2,
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=10,
        read_timeout=120,
        # Flexible checksums (boto3 >= 1.36) are not understood by every S3-compatible
        # store; uploads carry Content-MD5 instead, which all of them check.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


def make_client(target: S3Publish, environ: Mapping[str, str] = os.environ) -> Any:
    """A boto3 S3 client for ``target``; CredentialsError when no credentials are found.

    boto3 is imported here, when a client is made, not with the module: it takes longer
    to import than the rest of the tool, and every task would pay for it to be listed.
    """
    import boto3

    key, secret = environ.get(SPACES_KEY), environ.get(SPACES_SECRET)
    if key and secret:
        session = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret)
    else:
        session = boto3.session.Session()
    if session.get_credentials() is None:
        raise CredentialsError(
            f"publish target {target.name}: no S3 credentials; set SPACES_KEY and "
            "SPACES_SECRET (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    client = session.client(
        "s3",
        endpoint_url=target.endpoint,
        region_name=target.region,
        config=_client_config(target.concurrency),
    )
    client.meta.events.register("before-sign.s3.DeleteObjects", _content_md5)
    return client


def _content_md5(request: Any, **_: Any) -> None:
    # The S3 API requires Content-MD5 on DeleteObjects; boto3 >= 1.36 sends a CRC32 only,
    # which MinIO and other S3-compatible stores refuse (MissingContentMD5).
    body = request.body if isinstance(request.body, bytes) else b""
    request.headers["Content-MD5"] = base64.b64encode(
        hashlib.md5(body, usedforsecurity=False).digest()
    ).decode()


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _md5(path: Path) -> str:
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, lambda: hashlib.md5(usedforsecurity=False))
    return base64.b64encode(digest.digest()).decode()


class Bucket:
    """The objects under one target's prefix."""

    def __init__(self, target: S3Publish, client: Any) -> None:
        self.target = target
        self.client = client
        self.prefix = target.prefix.strip("/")
        self.where = f"bucket {target.name} (s3://{target.bucket}/{self.prefix})"

    def key(self, path: str) -> str:
        """The object key of a path relative to the prefix."""
        return f"{self.prefix}/{path}" if self.prefix else path

    def _fail(self, action: str, error: Exception) -> PublishError:
        return PublishError(f"{self.where}: {action} failed: {error}")

    def read(self, path: str) -> bytes | None:
        """A control object's content (at most MAX_CONTROL bytes); None if there is none."""
        found = self.read_tagged(path, MAX_CONTROL)
        return None if found is None else found[0]

    def read_tagged(self, path: str, limit: int) -> tuple[bytes, str] | None:
        """A control object's content (at most ``limit`` bytes) and its ETag; None if none."""
        chunks: list[bytes] = []
        etag = self._get(path, chunks.append, limit)
        return None if etag is None else (b"".join(chunks), etag)

    def download(self, path: str, target: Path, limit: int) -> bool:
        """Write an object of at most ``limit`` bytes to the new file ``target`` as it arrives.

        False if there is no such object; PublishError if it is larger.
        """
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(target, flags, 0o644), "wb") as sink:
            return self._get(path, sink.write, limit) is not None

    def _get(self, path: str, write: Callable[[bytes], object], limit: int) -> str | None:
        """Stream the object to ``write``; its ETag, or None if there is no such object."""
        received = 0
        try:
            response = self.client.get_object(Bucket=self.target.bucket, Key=self.key(path))
            for chunk in response["Body"].iter_chunks(_CHUNK):
                received += len(chunk)
                if received > limit:
                    raise PublishError(f"{self.where}: {path} is larger than {limit} bytes")
                write(chunk)
        except ClientError as error:
            if _code(error) in _MISSING:
                return None
            raise self._fail(f"reading {path}", error) from None
        except BotoCoreError as error:
            raise self._fail(f"reading {path}", error) from None
        return str(response.get("ETag", ""))

    def write_private(self, path: str, data: bytes, *, replacing: str | None = None) -> None:
        """Store a control object (manifest, ledger): no public ACL, no caching.

        With ``replacing`` (the ETag read, or ``""`` when there was no object) the PUT is
        conditional: PublishError if someone wrote the object since it was read.
        """
        conditions: dict[str, str] = {}
        if replacing is not None:
            conditions = {"IfMatch": replacing} if replacing else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(
                Bucket=self.target.bucket,
                Key=self.key(path),
                Body=data,
                ContentMD5=base64.b64encode(
                    hashlib.md5(data, usedforsecurity=False).digest()
                ).decode(),
                CacheControl="no-store",
                ContentType="application/json",
                **conditions,
            )
        except ClientError as error:
            if replacing is not None and _code(error) in _HELD:
                raise PublishError(
                    f"{self.where}: {path} changed while this run held the lock (was the "
                    "lock broken?); nothing was written: run it again"
                ) from None
            raise self._fail(f"writing {path}", error) from None
        except BotoCoreError as error:
            raise self._fail(f"writing {path}", error) from None

    def create(self, path: str, data: bytes) -> bool:
        """Store ``data`` only if no object is there (If-None-Match); False if one is."""
        try:
            self.client.put_object(
                Bucket=self.target.bucket,
                Key=self.key(path),
                Body=data,
                IfNoneMatch="*",
                CacheControl="no-store",
                ContentType="text/plain",
            )
        except ClientError as error:
            if _code(error) in _HELD:
                return False
            raise self._fail(f"creating {path}", error) from None
        except BotoCoreError as error:
            raise self._fail(f"creating {path}", error) from None
        return True

    def upload(self, path: str, source: Path) -> None:
        """Upload a tree file as a public object with its cache headers; Content-MD5 checked."""
        size = source.stat().st_size
        if size > MAX_PUT:
            raise PublishError(f"{source} is larger than one PUT may be ({MAX_PUT} bytes)")
        extra: dict[str, str] = {}
        if self.target.acl:
            extra["ACL"] = self.target.acl
        try:
            with source.open("rb") as body:
                self.client.put_object(
                    Bucket=self.target.bucket,
                    Key=self.key(path),
                    Body=body,
                    ContentLength=size,
                    ContentMD5=_md5(source),
                    CacheControl=cache_control(path),
                    ContentType=content_type(path),
                    **extra,
                )
        except (ClientError, BotoCoreError, OSError) as error:
            raise self._fail(f"uploading {path}", error) from None

    def delete(self, path: str) -> None:
        """Delete one object (no error if it is already gone)."""
        try:
            self.client.delete_object(Bucket=self.target.bucket, Key=self.key(path))
        except (ClientError, BotoCoreError) as error:
            raise self._fail(f"deleting {path}", error) from None

    def delete_many(self, paths: Sequence[str]) -> None:
        """Delete objects, a thousand per request."""
        for start in range(0, len(paths), DELETE_BATCH):
            batch = paths[start : start + DELETE_BATCH]
            objects = [{"Key": self.key(path)} for path in batch]
            try:
                response = self.client.delete_objects(
                    Bucket=self.target.bucket, Delete={"Objects": objects, "Quiet": True}
                )
            except (ClientError, BotoCoreError) as error:
                raise self._fail("deleting objects", error) from None
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise PublishError(
                    f"{self.where}: {len(errors)} objects were not deleted, e.g. "
                    f"{first.get('Key')}: {first.get('Message')}"
                )
