"""Project, bucket and tag names made from a repository's name: normalised or refused."""

from __future__ import annotations

import re

import pytest

from orchestrator.config.inventory import TAG_PREFIX_PATTERN
from orchestrator.config.schema import PACKAGE_NAME_PATTERN
from orchestrator.errors import UsageError
from orchestrator.starter.names import (
    bucket_name,
    checked_name,
    package_name,
    repository_name,
    tag_prefix,
)

BUCKET_PATTERN = r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/hello.git",
        "https://github.com/acme/hello",
        "https://github.com/acme/hello/",
        "git@github.com:acme/hello.git",
        "git@example.org:hello",
        "ssh://git@gitlab.example.org:2222/group/sub/hello.git",
        "/srv/git/hello.git",
        "file:///srv/git/hello",
        "https://user:secret@example.org/acme/hello.git",
    ],
)
def test_the_repository_name_is_the_last_segment_of_the_remote(url: str) -> None:
    assert repository_name(url) == "hello"


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("hello", "hello"),
        ("Hello-World", "hello-world"),
        ("My_Project", "my-project"),
        ("my tool  v2", "my-tool-v2"),
        ("libfoo++", "libfoo"),
        ("python3.11-extras", "python3.11-extras"),
        ("évier", "evier"),
        ("-_leading.and.trailing_-", "leading.and.trailing"),
    ],
)
def test_package_names_are_normalised(raw: str, name: str) -> None:
    assert package_name(raw, "test") == name
    assert re.fullmatch(PACKAGE_NAME_PATTERN, name)


def test_a_hostile_remote_becomes_a_plain_name_never_a_path() -> None:
    name = package_name(repository_name("https://x/../../evil;rm"), "origin")
    assert name == "evil-rm"
    name = package_name(repository_name("https://x/a/$(touch pwned)`id`"), "origin")
    assert re.fullmatch(r"[a-z0-9.+-]+", name)


@pytest.mark.parametrize("raw", ["", "..", ".", "x", "___", "日本語", "a" * 101])
def test_what_cannot_be_made_a_package_name_is_refused_with_a_way_out(raw: str) -> None:
    with pytest.raises(UsageError) as raised:
        package_name(raw, "the origin remote's repository name")
    message = str(raised.value)
    assert "the origin remote's repository name" in message
    assert message.endswith("pass --name NAME")
    assert "\n" not in message


def test_the_refusal_shows_control_characters_escaped() -> None:
    with pytest.raises(UsageError) as raised:
        package_name("\x1b\x07\x1b", "origin")
    assert "\x1b" not in str(raised.value) and "\\x1b" in str(raised.value)


def test_a_name_given_with_the_flag_is_checked_not_changed() -> None:
    assert checked_name("hello-world") == "hello-world"
    for bad in ("Hello", "a b", "a;b", "../x", "x", "", "-x", "a" * 101):
        with pytest.raises(UsageError, match="is not a package name"):
            checked_name(bad)


@pytest.mark.parametrize("project", ["hello", "a.b+c", "9lives", "x" * 100, "a-" * 40 + "b"])
def test_bucket_names_and_tag_prefixes_fit_their_rules(project: str) -> None:
    assert re.fullmatch(BUCKET_PATTERN, bucket_name(project))
    assert bucket_name(project).endswith("-packages")
    assert re.fullmatch(TAG_PREFIX_PATTERN, tag_prefix(project))
    assert tag_prefix(project).startswith("relorch-")


def test_bucket_and_tag_of_a_plain_name() -> None:
    assert bucket_name("hello") == "hello-packages"
    assert tag_prefix("hello") == "relorch-hello"
    assert bucket_name("a.b+c") == "a-b-c-packages"
