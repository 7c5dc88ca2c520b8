from __future__ import annotations

import pytest

from orchestrator.sandbox.apierrors import ApiError
from orchestrator.sandbox.pagination import paginate

URL = "http://127.0.0.1:8757/v2/droplets"


def test_a_single_page_has_no_links() -> None:
    page = paginate(list(range(3)), {}, URL)

    assert (page.items, page.links, page.meta) == ([0, 1, 2], {}, {"total": 3})


def test_middle_page_links_are_absolute_and_keep_the_filters() -> None:
    page = paginate(list(range(7)), {"tag_name": "ci", "page": "2", "per_page": "3"}, URL)

    assert page.items == [3, 4, 5]
    assert page.links == {
        "pages": {
            "first": f"{URL}?tag_name=ci&page=1&per_page=3",
            "prev": f"{URL}?tag_name=ci&page=1&per_page=3",
            "next": f"{URL}?tag_name=ci&page=3&per_page=3",
            "last": f"{URL}?tag_name=ci&page=3&per_page=3",
        }
    }


def test_first_and_last_pages_only_show_links_that_make_sense() -> None:
    first = paginate(list(range(45)), {}, URL)
    last = paginate(list(range(45)), {"page": "3"}, URL)

    assert len(first.items) == 20
    assert set(first.links["pages"]) == {"next", "last"}
    assert last.items == list(range(40, 45))
    assert set(last.links["pages"]) == {"first", "prev"}


def test_per_page_is_capped_at_200() -> None:
    page = paginate(list(range(450)), {"per_page": "500"}, URL)

    assert len(page.items) == 200
    assert page.links["pages"]["last"] == f"{URL}?page=3&per_page=200"


def test_a_page_past_the_end_is_empty() -> None:
    page = paginate(list(range(5)), {"page": "4", "per_page": "2"}, URL)

    assert page.items == []
    assert page.links["pages"]["prev"] == f"{URL}?page=3&per_page=2"


@pytest.mark.parametrize("query", [{"page": "0"}, {"per_page": "x"}, {"page": "-1"}])
def test_bad_numbers_are_400(query: dict[str, str]) -> None:
    with pytest.raises(ApiError) as raised:
        paginate([1], query, URL)

    assert raised.value.status == 400
    assert set(raised.value.body()) == {"id", "message"}
