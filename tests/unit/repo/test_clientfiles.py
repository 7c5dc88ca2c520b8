from __future__ import annotations

from orchestrator.repo.clientfiles import fingerprint_groups, render_client_files
from orchestrator.repo.options import RepoOptions

FPR = "F805487171D404A06B0BE11C4EDE4332A3CE73AC"


def _files(base_url: str | None) -> dict[str, bytes]:
    options = RepoOptions(
        project="demo", origin="Example", label="Demo Tools", base_url=base_url,
        homepage="https://example.org/demo",
    )  # fmt: skip
    return render_client_files(
        options, FPR, "ARMORED", b"BINARY", ["stable"], ["stable", "testing"]
    )


def test_client_files_point_at_the_base_url_and_the_key() -> None:
    files = _files("https://repo.example.org/")
    assert files["keys/demo.asc"] == b"ARMORED" and files["keys/demo.gpg"] == b"BINARY"
    sources = files["deb/demo-stable.sources"].decode()
    assert "URIs: https://repo.example.org/deb\n" in sources
    assert "Signed-By: /etc/apt/keyrings/demo.gpg\n" in sources
    assert files["deb/demo-stable.list"] == (
        b"deb [signed-by=/etc/apt/keyrings/demo.gpg] https://repo.example.org/deb stable main\n"
    )
    repo = files["rpm/demo-testing.repo"].decode()
    assert "baseurl=https://repo.example.org/rpm/testing/$basearch\n" in repo
    assert "gpgcheck=1\nrepo_gpgcheck=1\n" in repo
    assert (
        "zypper addrepo https://repo.example.org/rpm/demo-stable.repo"
        in files["rpm/demo-zypper.txt"].decode()
    )


def test_landing_page_shows_commands_and_fingerprint_escaped() -> None:
    page = _files("https://repo.example.org")["index.html"].decode()
    assert fingerprint_groups(FPR) in page
    assert "sudo apt-get install demo" in page
    assert "sudo dnf install demo" in page
    assert "sudo zypper refresh" in page
    assert "&gt; /dev/null" in page


def test_without_base_url_only_keys_and_page_are_made() -> None:
    files = _files(None)
    assert sorted(files) == ["index.html", "keys/demo.asc", "keys/demo.gpg"]
    assert "https://REPOSITORY-URL/keys/demo.gpg" in files["index.html"].decode()


def test_fingerprint_groups() -> None:
    assert fingerprint_groups("ABCDEFGH12") == "ABCD EFGH 12"


def test_the_landing_page_links_to_the_environments_page_only_when_one_is_published() -> None:
    assert "environments page" not in _files("https://repo.example.org")["index.html"].decode()
    options = RepoOptions(
        project="demo", origin="Example", label="Demo", base_url="https://repo.example.org",
        environments_page_url="https://repo.example.org/status/environments.html",
    )  # fmt: skip
    page = render_client_files(options, FPR, "ARMORED", b"BINARY", ["stable"], [])["index.html"]
    assert b'<a href="https://repo.example.org/status/environments.html">' in page
