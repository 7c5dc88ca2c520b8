"""A Python package index: what it serves of a project, and uploads with twine.

The orchestrator uploads, never a build host, so the index's token stays on this
machine: it reaches twine only through twine's environment (``TWINE_PASSWORD``), never
its command line, and is scrubbed from anything twine says before it is shown or logged.
Reading the project's PEP 503 page is bounded (:mod:`orchestrator.remote.httpread`); an
index that answers 5xx (or not at all) is asked again with exponential back-off, and
then the error names the index. Uploading a file the index has answers 400 on most
indexes: callers read the page first (:func:`orchestrator.pyindex.simple.to_upload`), and
so does an upload before it tries again, since an index may store a file and still
answer 5xx (or time out).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import tenacity

from orchestrator.errors import PublishError
from orchestrator.pyindex.dists import project_name
from orchestrator.pyindex.simple import PageError, project_url, served_files, to_upload
from orchestrator.remote.httpread import HttpFailure, get

MAX_PAGE_BYTES = 8 << 20
PAGE_TIMEOUT = 60.0
# twine's own wait, for one file: a minute plus a second per MiB.
UPLOAD_SECONDS = 60.0
UPLOAD_BYTES_PER_SECOND = 1 << 20
# What twine may see of this process's environment: where things are, never a secret.
_KEPT = (
    "PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
    "NO_PROXY", "no_proxy",
)  # fmt: skip
_SERVER_ERROR = re.compile(r"HTTPError: 5[0-9][0-9]")
SCRUBBED = "[token]"


@dataclass(frozen=True)
class Backoff:
    """How often and how patiently an index that answers 5xx is asked again."""

    attempts: int = 5
    first: float = 2.0
    longest: float = 30.0


class IndexBusy(PublishError):
    """The index answered 5xx or nothing, once: asked again after a while."""


@dataclass(frozen=True)
class PythonIndex:
    """One package index: where uploads go, where its simple pages are, and the login."""

    upload_url: str
    simple_url: str
    username: str
    token: str = field(repr=False)
    backoff: Backoff = field(default_factory=Backoff)
    python: str = sys.executable

    @property
    def where(self) -> str:
        """The index as errors name it."""
        return f"the Python index {self.upload_url}"

    def _retrying(self) -> tenacity.Retrying:
        return tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(IndexBusy),
            wait=tenacity.wait_exponential(multiplier=self.backoff.first, max=self.backoff.longest),
            stop=tenacity.stop_after_attempt(self.backoff.attempts),
            reraise=True,
        )

    def files(self, name: str) -> dict[str, str | None]:
        """The files the index has of project ``name``, with their sha256 (PEP 503)."""
        url = project_url(self.simple_url, name)
        try:
            return self._retrying()(self._read_page, url)
        except IndexBusy as error:
            raise PublishError(
                f"{self.where}: {error} after {self.backoff.attempts} attempts"
            ) from None

    def _read_page(self, url: str) -> dict[str, str | None]:
        try:
            answer = get(url, timeout=PAGE_TIMEOUT, limit=MAX_PAGE_BYTES)
        except HttpFailure as error:
            raise IndexBusy(f"{url}: {error}") from None
        if answer.status >= 500:
            raise IndexBusy(f"{url} answered {answer.status}")
        if answer.status == 404:
            return {}
        if answer.status != 200 or len(answer.body) > MAX_PAGE_BYTES:
            raise PublishError(f"{self.where}: {url} answered {answer.status}")
        try:
            return served_files(answer.body.decode("utf-8", errors="replace"))
        except PageError as error:
            raise PublishError(f"{self.where}: {url}: {error}") from None

    def upload(self, path: Path) -> None:
        """Upload one distribution with twine; again after a while if the index answers 5xx.

        Before trying again the project's page is read: the index may have stored the file
        and answered 5xx anyway, and would now refuse it as a duplicate. Served with this
        file's sha256, the upload is done; with another, PublishError names the file.
        """
        with path.open("rb") as file:
            sha256 = hashlib.file_digest(file, "sha256").hexdigest()
        try:
            for attempt in self._retrying():
                with attempt:
                    if attempt.retry_state.attempt_number > 1 and self._has(path.name, sha256):
                        return
                    self._twine(path)
        except IndexBusy as error:
            raise PublishError(
                f"{self.where}: {error} after {self.backoff.attempts} attempts"
            ) from None

    def _has(self, name: str, sha256: str) -> bool:
        """Whether the index serves file ``name`` with ``sha256``; PublishError if otherwise."""
        try:
            return not to_upload({name: sha256}, self.files(project_name(name)))
        except PageError as error:
            raise PublishError(f"{self.where}: after a failed upload: {error}") from None

    def _twine(self, path: Path) -> None:
        environment = {name: os.environ[name] for name in _KEPT if name in os.environ}
        environment |= {
            "TWINE_USERNAME": self.username,
            "TWINE_PASSWORD": self.token,
            "TWINE_NON_INTERACTIVE": "1",
            # No keyring: the token comes from here or not at all.
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        }
        command = [
            self.python, "-m", "twine", "upload", "--non-interactive",
            "--disable-progress-bar", "--repository-url", self.upload_url, str(path),
        ]  # fmt: skip
        timeout = UPLOAD_SECONDS + path.stat().st_size / UPLOAD_BYTES_PER_SECOND
        try:
            done = subprocess.run(
                command,
                env=environment,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise IndexBusy(f"twine upload {path.name} took over {timeout:g}s") from None
        if done.returncode == 0:
            return
        said = self.scrub(_last_error(done.stdout + done.stderr))
        if _SERVER_ERROR.search(said) or "ConnectionError" in said:
            raise IndexBusy(f"uploading {path.name}: {said}")
        raise PublishError(f"{self.where}: uploading {path.name}: {said}")

    def scrub(self, text: str) -> str:
        """``text`` without the token in it."""
        return text.replace(self.token, SCRUBBED) if self.token else text


_COLOURS = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _last_error(output: str) -> str:
    """The error twine printed, on one line: its ERROR line (without colours), else its last line."""
    lines = [" ".join(_COLOURS.sub("", line).split()) for line in output.splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if line.startswith("ERROR")]
    return ((errors or lines or ["twine failed and said nothing"])[-1])[:300]
