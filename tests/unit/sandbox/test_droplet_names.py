from __future__ import annotations

from typing import Any

import pytest

from orchestrator.sandbox.apierrors import ApiError
from orchestrator.sandbox.names import droplet_name_problem, tag_name_problem
from orchestrator.sandbox.routes import droplet_request

BODY = {"region": "nyc3", "size": "s-1vcpu-1gb", "image": "debian-12-x64"}


# DigitalOcean's pattern makes its first character optional, so "-web" passes too.
@pytest.mark.parametrize(
    "name", ["a", "web-1", "build.example.com", "Build-AMD64-deb", "x" * 255, "1", "-web"]
)
def test_valid_droplet_names(name: str) -> None:
    assert droplet_name_problem(name) is None


@pytest.mark.parametrize("name", ["", "web-", "web_1", "web 1", "é", "x" * 256, "web.", 12, None])
def test_invalid_droplet_names(name: Any) -> None:
    assert droplet_name_problem(name)


@pytest.mark.parametrize(("name", "valid"), [("env:prod", True), ("a_b-c", True), ("a b", False)])
def test_tag_names(name: str, valid: bool) -> None:
    assert (tag_name_problem(name) is None) is valid


def test_a_valid_request() -> None:
    request = droplet_request(
        {
            **BODY,
            "names": ["a", "b"],
            "image": 151_000_002,
            "ssh_keys": [12, "aa:bb"],
            "tags": ["t", "t", "u"],
            "ipv6": True,
            "backups": False,
            "user_data": "#cloud-config\n",
        }
    )

    assert request.names == ("a", "b")
    assert request.image == "debian-12-x64"
    assert request.ssh_keys == (12, "aa:bb")
    assert request.tags == ("t", "u")
    assert request.features == ("ipv6",)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "a", "names": ["b"]}, "either name or names"),
        ({}, "must specify a name"),
        ({"names": []}, "array of 1 to 10"),
        ({"names": [f"n{i}" for i in range(11)]}, "array of 1 to 10"),
        ({"name": "a", "region": ""}, "must specify a region"),
        ({"name": "a", "region": "mars1"}, "invalid region"),
        ({"name": "web_1"}, "valid hostname characters"),
        ({"names": ["a", "b c"]}, "valid hostname characters"),
        ({"name": "a", "size": 1}, "invalid size"),
        ({"name": "a", "image": "plan9"}, "invalid image"),
        ({"name": "a", "ssh_keys": "aa:bb"}, "ssh_keys must be an array"),
        ({"name": "a", "ssh_keys": [True]}, "ids or fingerprints"),
        ({"name": "a", "tags": ["a b"]}, "Tag name 'a b' is invalid"),
        ({"name": "a", "user_data": 7}, "user_data must be a string"),
        ({"name": "a", "user_data": "x" * 70_000}, "less than 64 KiB"),
    ],
)
def test_invalid_requests(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiError, match=message) as raised:
        droplet_request({**BODY, **body})

    assert raised.value.status == 422
