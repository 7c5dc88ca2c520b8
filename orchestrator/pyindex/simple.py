"""An index's PEP 503 page for one project: which files it has, and their sha256.

``/simple/<name>/`` is HTML with one ``<a href="...#sha256=HEX">`` per file (PEP 503).
The page comes from the index, which the tool trusts no more than it must: a link's file
name is the last part of its path, only a ``sha256`` fragment counts as a digest, and a
name given twice with two digests is refused.
"""

from __future__ import annotations

import re
import urllib.parse
from html.parser import HTMLParser

from packaging.utils import canonicalize_name

_HEX64 = re.compile(r"[0-9a-f]{64}")


class PageError(ValueError):
    """A simple page that says two things about one file, or cannot be parsed."""


def project_url(simple_url: str, name: str) -> str:
    """The page of project ``name`` under the index's simple URL (PEP 503: normalised)."""
    return f"{simple_url.rstrip('/')}/{canonicalize_name(name)}/"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def _hrefs(page: str) -> list[str]:
    parser = _Links()
    try:
        parser.feed(page)
        parser.close()
    # HTMLParser asserts on some malformed markup (``<![foo[``): the page comes from the
    # index, so whatever the parser raises is the page's fault, not a bug here.
    except Exception as error:
        raise PageError(f"the page is unreadable HTML: {str(error)[:120]}") from None
    return parser.hrefs


def served_files(page: str) -> dict[str, str | None]:
    """Every file the page links to, with its sha256 (None when the link has none)."""
    files: dict[str, str | None] = {}
    for href in _hrefs(page):
        parts = urllib.parse.urlsplit(href)
        name = urllib.parse.unquote(parts.path.rsplit("/", 1)[-1])
        if not name:
            continue
        algorithm, _, digest = parts.fragment.partition("=")
        sha256 = (
            digest.lower() if algorithm == "sha256" and _HEX64.fullmatch(digest.lower()) else None
        )
        if name in files and files[name] != sha256:
            raise PageError(f"the page lists {name[:80]} twice, with two digests")
        files[name] = sha256
    return files


def to_upload(local: dict[str, str], served: dict[str, str | None]) -> list[str]:
    """The files of ``local`` (name: sha256) the index lacks; PageError for one it has otherwise.

    A file the index has with the same sha256 is there already (a re-run); with another,
    or with no digest to compare, it is a different file under that name, which no index
    lets anyone replace.
    """
    for name, sha256 in sorted(local.items()):
        if name in served and served[name] != sha256:
            what = f"sha256 {served[name]}" if served[name] else "no sha256 on its page"
            raise PageError(
                f"the index has {name} with {what}, not this build's {sha256}: a version is "
                "uploaded once; release a new version"
            )
    return sorted(name for name in local if name not in served)
