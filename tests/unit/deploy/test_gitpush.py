"""Branch names and review addresses for an inventory change pushed as a branch."""

from __future__ import annotations

import subprocess

import pytest

from orchestrator.deploy.gitpush import MAX_BRANCH_LENGTH, branch_name, review_url

BRANCH = "relorch/prod-1.2.4"


# Review addresses


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("https://github.com/acme/deploy.git", "https://github.com/acme/deploy/compare/relorch/prod-1.2.4?expand=1"),
        ("https://github.com/acme/deploy", "https://github.com/acme/deploy/compare/relorch/prod-1.2.4?expand=1"),
        ("https://x-access-token:ghs_s3cret@github.com/acme/deploy.git/", "https://github.com/acme/deploy/compare/relorch/prod-1.2.4?expand=1"),
        ("git@github.com:acme/deploy.git", "https://github.com/acme/deploy/compare/relorch/prod-1.2.4?expand=1"),
        ("ssh://git@github.com/acme/deploy.git", "https://github.com/acme/deploy/compare/relorch/prod-1.2.4?expand=1"),
        ("ssh://git@ssh.github.com:443/acme/deploy.git", "https://github.com/acme/deploy/compare/relorch/prod-1.2.4?expand=1"),
        ("https://gitlab.com/acme/ops/deploy.git", "https://gitlab.com/acme/ops/deploy/-/merge_requests/new?merge_request%5Bsource_branch%5D=relorch%2Fprod-1.2.4"),
        ("git@gitlab.com:acme/deploy.git", "https://gitlab.com/acme/deploy/-/merge_requests/new?merge_request%5Bsource_branch%5D=relorch%2Fprod-1.2.4"),
        ("https://oauth2:glpat-s3cret@gitlab.example.org:8443/g/deploy.git", "https://gitlab.example.org:8443/g/deploy/-/merge_requests/new?merge_request%5Bsource_branch%5D=relorch%2Fprod-1.2.4"),
        ("ssh://git@gitlab.example.org:2222/g/sub/deploy.git", "https://gitlab.example.org/g/sub/deploy/-/merge_requests/new?merge_request%5Bsource_branch%5D=relorch%2Fprod-1.2.4"),
        ("/srv/git/deploy.git", None),
        ("file:///srv/git/deploy.git", None),
        ("../deploy.git", None),
        ("https://bitbucket.org/acme/deploy.git", None),
        ("https://mygitlab.com/acme/deploy.git", None),
        ("https://github.com/acme", None),
        ("https://github.com/acme/deploy/extra.git", None),
    ],
)  # fmt: skip
def test_review_url(remote: str, expected: str | None) -> None:
    assert review_url(remote, BRANCH) == expected


def test_review_url_encodes_the_branch() -> None:
    assert review_url("git@github.com:a/b.git", "relorch/prod-1.2.4+build.5") == (
        "https://github.com/a/b/compare/relorch/prod-1.2.4%2Bbuild.5?expand=1"
    )
    assert review_url("git@gitlab.com:a/b.git", "relorch/prod-1.2.4+build.5") == (
        "https://gitlab.com/a/b/-/merge_requests/new"
        "?merge_request%5Bsource_branch%5D=relorch%2Fprod-1.2.4%2Bbuild.5"
    )


# Branch names


@pytest.mark.parametrize(
    ("environment", "what", "expected"),
    [
        ("prod", "1.2.4", "relorch/prod-1.2.4"),
        ("container-staging", "cache-1.5.0", "relorch/container-staging-cache-1.5.0"),
        ("prod", "1.2.4-rc.1+build.5", "relorch/prod-1.2.4-rc.1+build.5"),
        ("pr od", "hello 1.2.4, cache 1.5.0", "relorch/pr-od-hello-1.2.4-cache-1.5.0"),
        ("prod", "a..b//c~^:?*[\\@{x}", "relorch/prod-a.b-c-x"),
        (".hidden", "-x.lock", "relorch/hidden-x"),
        ("prod", "v1.lock.lock", "relorch/prod-v1"),
        ("", "", "relorch/env"),
        ("dev", "....", "relorch/dev"),
    ],
)
def test_branch_name(environment: str, what: str, expected: str) -> None:
    assert branch_name(environment, what) == expected


@pytest.mark.parametrize(
    ("environment", "what"),
    [
        ("prod", "1.2.4"),
        ("p/r\\o.d", "x.lock/y..z@{1}"),
        ("é-prod", "ünïcode\t\x00ctl\x7f"),
        ("e" * 300, "1.2.3-" + "a" * 300),
        ("prod", "9" * 300 + ".lock"),
        ("-", "@"),
        ("prod", "..lock"),
    ],
)
def test_branch_names_pass_git_check_ref_format(environment: str, what: str) -> None:
    name = branch_name(environment, what)
    assert len(name) <= MAX_BRANCH_LENGTH and name.startswith("relorch/")
    result = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, (name, result.stderr)
