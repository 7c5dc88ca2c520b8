"""The inventory's Python package index: where ``python`` artifacts are uploaded.

Kept apart from :mod:`orchestrator.config.inventory`, whose targets declare the artifacts
(``python_artifacts``); the inventory checks that a target with any has an index.
"""

from __future__ import annotations

import urllib.parse

from pydantic import Field, field_validator

from orchestrator.config.credentials import PYTHON_INDEX_TOKEN
from orchestrator.config.schema import ENV_NAME_PATTERN, Model, is_loopback

_URL_PATTERN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$"


def _checked_url(value: str) -> str:
    """``value`` unless it sends the token in the clear or names no TCP port."""
    parts = urllib.parse.urlsplit(value)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise ValueError("plain http would send the token in the clear: use https")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"port {parts.netloc.partition(':')[2]} is not a TCP port (1 to 65535)")
    return value


class PythonIndex(Model):
    """A package index (PyPI, a private one, the sandbox's pypiserver) and its login.

    The orchestrator uploads with twine once the repositories are published; the token is
    read from ``token_env`` and never reaches a build host, a hook, a log or a report.
    """

    url: str = Field(
        pattern=_URL_PATTERN,
        max_length=300,
        description="Where twine uploads, e.g. https://upload.pypi.org/legacy/; plain http "
        "only on 127.0.0.0/8.",
    )
    simple_url: str | None = Field(
        default=None,
        pattern=_URL_PATTERN,
        max_length=300,
        description="The index's PEP 503 pages, e.g. https://pypi.org/simple/; default "
        "url + /simple/.",
    )
    username: str = Field(
        default="__token__", min_length=1, max_length=100, description="twine's username."
    )
    token_env: str = Field(
        default=PYTHON_INDEX_TOKEN,
        pattern=ENV_NAME_PATTERN,
        description="Variable holding the upload token (the password).",
    )
    sandbox: bool = Field(
        default=False,
        description="The sandbox's index: its token is read from the running sandbox.",
    )
    attempts: int = Field(
        default=5, ge=1, le=20, description="Requests to an index that answers 5xx, in all."
    )
    backoff: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Seconds before the second request; each wait doubles, up to 30 s.",
    )

    @field_validator("url", "simple_url")
    @classmethod
    def _safe_url(cls, value: str | None) -> str | None:
        return None if value is None else _checked_url(value)

    @property
    def pages(self) -> str:
        """The simple URL, ending in a slash."""
        return (self.simple_url or f"{self.url.rstrip('/')}/simple/").rstrip("/") + "/"
