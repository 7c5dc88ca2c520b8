"""A container registry through the Registry HTTP API v2 (the CNCF Distribution API).

Every exchange is bounded in size and time (:mod:`orchestrator.remote.httpread`): the registry
is not trusted to answer briefly. The login goes in a Basic ``Authorization`` header to
the registry's own origin: an upload ``Location`` or a ``Link`` to another host is
refused, never followed. A token registry answers 401 with a Bearer challenge: the login
then goes to the realm it names for a token, which every later request carries instead,
as Docker's own client does; the realm must be https (or http on loopback) and on the
registry's own domain (``api.digitalocean.com`` for ``registry.digitalocean.com``). What it answers is checked: a manifest or a
blob must hash to the digest it was asked for.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from orchestrator.config.schema import is_loopback
from orchestrator.errors import PublishError
from orchestrator.images.names import DIGEST, TAG, checked_repository, checked_tag
from orchestrator.remote.httpread import Answer, HttpFailure, exchange

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# One tag for several platforms: Docker's manifest list, or the OCI image index.
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
# Asked for by every manifest read: a registry that is not told an index is welcome
# answers with one platform's manifest in its place (Distribution picks linux/amd64).
ACCEPTED_MANIFESTS = ", ".join((DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX))
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MAX_DOCUMENT = 4 << 20
CONTROL_DEADLINE = 60.0
# An upload may take a minute plus a second per MiB.
UPLOAD_BYTES_PER_SECOND = 1 << 20
MAX_TAGS = 100_000
TAGS_DEADLINE = 300.0
PAGE_SIZE = 100
TOKEN_LIMIT = 1 << 20
TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{1,16384}")
_CHALLENGE_FIELD = re.compile(r'([A-Za-z]+)="([^"]*)"')
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class Credentials:
    """A registry login; never shown."""

    username: str
    password: str = field(repr=False)

    def header(self) -> str:
        """The value of the Authorization header."""
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass(frozen=True)
class Manifest:
    """An image manifest as the registry serves it."""

    body: bytes
    media_type: str
    digest: str


class LoginRefused(PublishError):
    """The registry wants a login it was not given, or refused the one it was."""


class Registry:
    """One registry at ``url`` (``http://127.77.0.1:5000``), logged in with ``credentials``."""

    def __init__(self, url: str, credentials: Credentials | None) -> None:
        parts = urllib.parse.urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not a registry URL: {url!r}")
        self.url = url.rstrip("/")
        self._origin = (parts.scheme, parts.netloc)
        self._credentials = credentials
        self._bearer: str | None = None
        self.host = parts.hostname or ""
        self.where = f"registry {parts.netloc}"
        self.address = parts.netloc

    def _url(self, reference: str) -> str:
        """An absolute URL for a path or a URL the registry gave; only on its own origin."""
        joined = urllib.parse.urljoin(self.url + "/", reference)
        parts = urllib.parse.urlsplit(joined)
        if (parts.scheme, parts.netloc) != self._origin:
            raise PublishError(f"{self.where} sent the tool elsewhere ({joined[:120]!r}); refused")
        return joined

    def _exchange(
        self,
        method: str,
        reference: str,
        *,
        body: bytes | IO[bytes] | None = None,
        headers: dict[str, str] | None = None,
        limit: int = MAX_DOCUMENT,
        timeout: float = CONTROL_DEADLINE,
    ) -> Answer:
        answer = self._send(method, reference, body, headers, limit, timeout)
        if answer.status == 401:
            challenge = bearer_challenge(answer.headers.get("www-authenticate", ""))
            if challenge is not None:
                # A token registry (Docker Hub, DOCR, GHCR, GitLab): a token for the scope
                # it names, then the same request again.
                self._bearer = self._token(challenge)
                if not isinstance(body, bytes) and body is not None:
                    body.seek(0)
                answer = self._send(method, reference, body, headers, limit, timeout)
        if answer.status == 401:
            raise LoginRefused(
                f"{self.where} refused the login (401): check the registry's username and "
                "password variables"
            )
        return answer

    def _send(
        self,
        method: str,
        reference: str,
        body: bytes | IO[bytes] | None,
        headers: dict[str, str] | None,
        limit: int,
        timeout: float,
    ) -> Answer:
        sent = dict(headers or {})
        if self._bearer is not None:
            sent["Authorization"] = f"Bearer {self._bearer}"
        elif self._credentials is not None:
            sent["Authorization"] = self._credentials.header()
        try:
            return exchange(
                method, self._url(reference), timeout=timeout, limit=limit, body=body, headers=sent
            )
        except HttpFailure as error:
            raise PublishError(f"{self.where}: {method} failed: {error}") from None

    def _token(self, challenge: dict[str, str]) -> str:
        """A token from the realm the registry named, for the service and scope it named."""
        realm = challenge.get("realm", "")
        parts = urllib.parse.urlsplit(realm)
        host = parts.hostname or ""
        if not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host))):
            raise PublishError(
                f"{self.where} names a token realm {realm[:120]!r} that is not https: the "
                "login would go in the clear; refused"
            )
        if not _same_site(host, self.host):
            raise PublishError(
                f"{self.where} names a token realm on another site ({host[:80]!r}); the "
                "login goes only to the registry's own domain: refused"
            )
        query: dict[str, str] = {k: challenge[k] for k in ("service", "scope") if k in challenge}
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {"Authorization": self._credentials.header()} if self._credentials else {}
        try:
            answer = exchange(
                "GET", url, timeout=CONTROL_DEADLINE, limit=TOKEN_LIMIT, headers=headers
            )
        except (HttpFailure, ValueError) as error:
            raise PublishError(f"{self.where}: its token realm failed: {error}") from None
        if answer.status != 200:
            raise PublishError(
                f"{self.where}: its token realm answered {answer.status}: check the "
                "registry's username and password variables"
            )
        try:
            document = json.loads(answer.body)
            token = document.get("token") or document.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not TOKEN.fullmatch(token):
            raise PublishError(f"{self.where}: its token realm gave no usable token")
        return token

    def _fail(self, what: str, answer: Answer) -> PublishError:
        detail = answer.body[:200].decode("utf-8", errors="replace").strip()
        return PublishError(f"{self.where}: {what} answered {answer.status}: {detail}")

    def has_blob(self, repository: str, digest: str) -> bool:
        """Whether the repository has the blob already."""
        answer = self._exchange(
            "HEAD", f"/v2/{checked_repository(repository)}/blobs/{digest}", limit=0
        )
        # A registry on S3 answers a blob it has with a redirect to where it is.
        if answer.status not in (200, 404, 307, 302):
            raise self._fail(f"checking blob {digest[:19]}", answer)
        return answer.status != 404

    def upload_blob(self, repository: str, digest: str, source: Path | bytes) -> None:
        """Upload one blob (a file, or bytes) in a single request: a monolithic upload."""
        name = checked_repository(repository)
        started = self._exchange("POST", f"/v2/{name}/blobs/uploads/", body=b"")
        location = started.headers.get("location")
        if started.status != 202 or not location:
            raise self._fail("starting an upload", started)
        separator = "&" if "?" in location else "?"
        size = source.stat().st_size if isinstance(source, Path) else len(source)
        with source.open("rb") if isinstance(source, Path) else io.BytesIO(source) as blob:
            done = self._exchange(
                "PUT",
                f"{location}{separator}digest={urllib.parse.quote(digest)}",
                body=blob,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                timeout=CONTROL_DEADLINE + size / UPLOAD_BYTES_PER_SECOND,
            )
        if done.status != 201:
            raise self._fail(f"uploading blob {digest[:19]}", done)

    def put_manifest(self, repository: str, tag: str | None, body: bytes, media_type: str) -> str:
        """Store a manifest under ``tag`` (None: by its digest only); its digest, confirmed."""
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        reference = digest if tag is None else checked_tag(tag)
        shown = f"{repository}@{digest}" if tag is None else f"{repository}:{tag}"
        answer = self._exchange(
            "PUT",
            f"/v2/{checked_repository(repository)}/manifests/{reference}",
            body=body,
            headers={"Content-Type": media_type},
        )
        if answer.status != 201:
            raise self._fail(f"storing {shown}", answer)
        confirmed = answer.headers.get("docker-content-digest")
        if confirmed is not None and confirmed != digest:
            raise PublishError(f"{self.where} stored {shown} as {confirmed}, not {digest}")
        return digest

    def manifest(self, repository: str, reference: str) -> Manifest | None:
        """The manifest of a tag or digest (None if there is none), its digest checked."""
        answer = self._exchange(
            "GET",
            f"/v2/{checked_repository(repository)}/manifests/{reference}",
            headers={"Accept": ACCEPTED_MANIFESTS},
        )
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise self._fail(f"reading {repository}:{reference}", answer)
        if len(answer.body) > MAX_DOCUMENT:
            raise PublishError(
                f"{self.where}: the manifest of {repository}:{reference} is too large"
            )
        digest = "sha256:" + hashlib.sha256(answer.body).hexdigest()
        stated = answer.headers.get("docker-content-digest")
        if (DIGEST.fullmatch(reference) and reference != digest) or (stated and stated != digest):
            raise PublishError(
                f"{self.where}: the manifest of {repository}:{reference} does not match its digest"
            )
        media_type = answer.headers.get("content-type", "").split(";")[0].strip()
        return Manifest(answer.body, media_type, digest)

    def blob(self, repository: str, digest: str, limit: int = MAX_DOCUMENT) -> bytes:
        """A small blob (an image config), checked against its digest.

        A registry that keeps blobs elsewhere (S3, a CDN) redirects to a signed URL: one
        redirect is followed, without the login, since the digest is checked anyway.
        """
        answer = self._exchange(
            "GET", f"/v2/{checked_repository(repository)}/blobs/{digest}", limit=limit
        )
        location = answer.headers.get("location")
        if answer.status in (301, 302, 303, 307, 308) and location:
            target = urllib.parse.urljoin(self.url + "/", location)
            try:
                answer = exchange("GET", target, timeout=CONTROL_DEADLINE, limit=limit)
            except (HttpFailure, ValueError) as error:
                raise PublishError(
                    f"{self.where}: reading blob {digest[:19]} failed: {error}"
                ) from None
        if answer.status != 200:
            raise self._fail(f"reading blob {digest[:19]}", answer)
        if "sha256:" + hashlib.sha256(answer.body).hexdigest() != digest:
            raise PublishError(f"{self.where}: blob {digest[:19]} does not match its digest")
        return answer.body

    def tags(self, repository: str) -> list[str]:
        """Every tag of the repository, page by page (``Link: <...>; rel="next"``).

        Bounded: at most :data:`MAX_TAGS` tags and :data:`TAGS_DEADLINE` seconds in all,
        and a page asked for twice ends the listing with an error.
        """
        reference = f"/v2/{checked_repository(repository)}/tags/list?n={PAGE_SIZE}"
        found: list[str] = []
        seen: set[str] = set()
        deadline = time.monotonic() + TAGS_DEADLINE
        while True:
            if reference in seen:
                raise PublishError(f"{self.where}: its tag list leads back to a page it gave")
            seen.add(reference)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishError(f"{self.where}: listing the tags took over {TAGS_DEADLINE:g}s")
            answer = self._exchange("GET", reference, timeout=min(CONTROL_DEADLINE, remaining))
            if answer.status == 404:
                return found
            if answer.status != 200:
                raise self._fail(f"listing the tags of {repository}", answer)
            found += _page_tags(answer.body, self.where)
            if len(found) > MAX_TAGS:
                raise PublishError(f"{self.where}: more than {MAX_TAGS} tags of {repository}")
            following = _NEXT.search(answer.headers.get("link", ""))
            if following is None:
                return found
            reference = following.group(1)


def _same_site(realm_host: str, registry_host: str) -> bool:
    """Whether a token realm's host is the registry's, or in its parent domain.

    registry.digitalocean.com hands out tokens at api.digitalocean.com, registry-1.docker.io
    at auth.docker.io, registry.gitlab.com at gitlab.com, ghcr.io at ghcr.io itself.
    """
    labels = registry_host.split(".")
    parent = ".".join(labels[1:]) if len(labels) > 2 else registry_host
    return realm_host in (registry_host, parent) or realm_host.endswith(f".{parent}")


def bearer_challenge(header: str) -> dict[str, str] | None:
    """The fields of a ``WWW-Authenticate: Bearer realm=...,service=...,scope=...``; else None."""
    scheme, _, fields = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return dict(_CHALLENGE_FIELD.findall(fields))


def _page_tags(body: bytes, where: str) -> list[str]:
    try:
        document = json.loads(body)
        tags = document.get("tags") or []
    except (ValueError, AttributeError, RecursionError):
        raise PublishError(f"{where}: a tag list that is not JSON") from None
    if not isinstance(tags, list):
        raise PublishError(f"{where}: a tag list that is not a list")
    # A tag that could not name an image is no tag: skipped, never passed on.
    return [tag for tag in tags if isinstance(tag, str) and TAG.fullmatch(tag)]
