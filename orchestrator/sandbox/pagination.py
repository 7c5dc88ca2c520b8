"""DigitalOcean pagination: ``page``/``per_page`` queries and absolute ``links.pages`` URLs.

Clients follow ``links.pages.next`` as given, so the URLs are absolute and built from the
emulator's own base URL, keeping the other query parameters (``tag_name``...).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from orchestrator.sandbox.apierrors import bad_request

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 200

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a collection, with the ``links`` and ``meta`` objects of the answer."""

    items: list[T]
    links: dict[str, Any]
    meta: dict[str, Any]


def _positive(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be a positive integer, not {raw!r}") from None
    if value < 1:
        raise bad_request(f"{name} must be a positive integer, not {raw!r}")
    return value


def paginate(items: Sequence[T], query: Mapping[str, str], page_url: str) -> Page[T]:
    """The page the query asks for; ``page_url`` is the collection's absolute URL."""
    page = _positive(query, "page", 1)
    per_page = min(_positive(query, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
    last = max(1, math.ceil(len(items) / per_page))
    kept = {key: value for key, value in query.items() if key not in ("page", "per_page")}

    def url(number: int) -> str:
        return f"{page_url}?{urlencode({**kept, 'page': number, 'per_page': per_page})}"

    # As DigitalOcean does, only the links that make sense, and none for a single page.
    pages: dict[str, str] = {}
    if page > 1:
        pages["first"] = url(1)
        pages["prev"] = url(min(page - 1, last))
    if page < last:
        pages["next"] = url(page + 1)
        pages["last"] = url(last)
    start = (page - 1) * per_page
    return Page(
        items=list(items[start : start + per_page]),
        links={"pages": pages} if pages else {},
        meta={"total": len(items)},
    )
