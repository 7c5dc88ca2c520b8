import http.server
import io
import re
import stat
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.config.inventory import parse_inventory
from orchestrator.errors import InventoryError, PublishError
from orchestrator.pyindex.dists import (
    MAX_METADATA_BYTES,
    DistributionError,
    check_distribution,
    read_distribution,
)
from orchestrator.pyindex.index import Backoff, PythonIndex
from orchestrator.pyindex.simple import PageError, served_files, to_upload

ROOT = Path(__file__).resolve().parents[3]


def metadata(name: str = "hello", version: str = "1.2.3") -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode()


def wheel(directory: Path, members: dict[str, bytes] | None = None) -> Path:
    path = directory / "hello-1.2.3-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in (members or {"hello-1.2.3.dist-info/METADATA": metadata()}).items():
            archive.writestr(name, data)
    return path


def sdist(directory: Path, file: str = "hello-1.2.3.tar.gz", link: str | None = None) -> Path:
    path = directory / file
    with tarfile.open(path, "w:gz") as archive:
        data = metadata()
        # twine reads {common path of all members}/PKG-INFO: a real sdist has more files.
        for name, content in (("hello-1.2.3/PKG-INFO", data), ("hello-1.2.3/setup.py", b"")):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        if link is not None:
            symlink = tarfile.TarInfo("hello-1.2.3/evil")
            symlink.type, symlink.linkname = tarfile.SYMTYPE, link
            archive.addfile(symlink)
    return path


def test_a_wheel_and_an_sdist_say_who_they_are(tmp_path: Path) -> None:
    for path in (wheel(tmp_path), sdist(tmp_path)):
        found = read_distribution(path)
        assert (found.name, found.version) == ("hello", "1.2.3")
        check_distribution(found, name="Hello", version="1.2.3")


def test_the_wrong_name_or_version_is_refused(tmp_path: Path) -> None:
    found = read_distribution(wheel(tmp_path))
    with pytest.raises(DistributionError, match="not the project's other"):
        check_distribution(found, name="other", version="1.2.3")
    with pytest.raises(
        DistributionError, match=re.escape("version 1.2.3, but the release is 1.2.4")
    ):
        check_distribution(found, name="hello", version="1.2.4")


def test_metadata_that_disagrees_with_the_file_name_is_refused(tmp_path: Path) -> None:
    path = wheel(tmp_path, {"hello-1.2.3.dist-info/METADATA": metadata(version="9.9.9")})
    with pytest.raises(DistributionError, match=re.escape("metadata says hello 9.9.9")):
        read_distribution(path)


def test_huge_metadata_is_refused_unread(tmp_path: Path) -> None:
    huge = metadata() + b"x" * (MAX_METADATA_BYTES + 1)
    path = wheel(tmp_path, {"hello-1.2.3.dist-info/METADATA": huge})
    with pytest.raises(DistributionError, match="over"):
        read_distribution(path)


def test_links_and_escaping_members_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DistributionError, match="is not a file or directory"):
        read_distribution(sdist(tmp_path, link="/etc/shadow"))
    path = wheel(
        tmp_path,
        {"hello-1.2.3.dist-info/METADATA": metadata(), "../../evil": b"x"},
    )
    with pytest.raises(DistributionError, match="leaves the archive"):
        read_distribution(path)
    linked = tmp_path / "linked" / "hello-1.2.3-py3-none-any.whl"
    linked.parent.mkdir()
    with zipfile.ZipFile(linked, "w") as archive:
        archive.writestr("hello-1.2.3.dist-info/METADATA", metadata())
        info = zipfile.ZipInfo("hello/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(DistributionError, match="is a link"):
        read_distribution(linked)


def test_not_an_archive_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "hello-1.2.3-py3-none-any.whl"
    path.write_bytes(b"garbage")
    with pytest.raises(DistributionError, match="not a readable archive"):
        read_distribution(path)


PAGE = """<html><body>
<a href="/packages/hello-1.2.3-py3-none-any.whl#sha256=%s">hello-1.2.3-py3-none-any.whl</a>
<a href="../../packages/hello-1.2.3.tar.gz">hello-1.2.3.tar.gz</a>
</body></html>""" % ("ab" * 32)


def test_a_simple_page_lists_files_and_digests() -> None:
    assert served_files(PAGE) == {
        "hello-1.2.3-py3-none-any.whl": "ab" * 32,
        "hello-1.2.3.tar.gz": None,
    }


def test_same_sha_is_skipped_other_bytes_fail_naming_the_file() -> None:
    served = served_files(PAGE)
    assert to_upload({"hello-1.2.3-py3-none-any.whl": "ab" * 32, "x.whl": "cd" * 32}, served) == [
        "x.whl"
    ]
    with pytest.raises(PageError, match=re.escape("hello-1.2.3-py3-none-any.whl with sha256 abab")):
        to_upload({"hello-1.2.3-py3-none-any.whl": "cd" * 32}, served)
    with pytest.raises(PageError, match=re.escape("hello-1.2.3.tar.gz with no sha256")):
        to_upload({"hello-1.2.3.tar.gz": "cd" * 32}, served)


class Flaky(http.server.BaseHTTPRequestHandler):
    answers: list[int] = []

    def do_GET(self) -> None:
        status = self.answers.pop(0) if self.answers else 200
        body = PAGE.encode() if status == 200 else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_index_answering_503_is_asked_again_then_named(flaky: str) -> None:
    index = PythonIndex(flaky, f"{flaky}/simple/", "__token__", "tok", Backoff(3, 0.01, 0.02))
    Flaky.answers = [503, 502]
    assert "hello-1.2.3.tar.gz" in index.files("hello")
    Flaky.answers = [503, 503, 503]
    with pytest.raises(
        PublishError, match=rf"the Python index {re.escape(flaky)}: .* answered 503 after 3"
    ):
        index.files("hello")


def test_the_token_reaches_twine_by_its_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}

    class Done:
        returncode = 1
        stdout = "ERROR HTTPError: 403 Forbidden from http://x/ (token s3cret-token)"
        stderr = ""

    def run(command: list[str], **kwargs: object) -> Done:
        seen["argv"], seen["env"] = command, kwargs["env"]
        return Done()

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setenv("DIGITALOCEAN_ACCESS_TOKEN", "do-secret")
    index = PythonIndex(
        "http://127.0.0.1:1/",
        "http://127.0.0.1:1/simple/",
        "__token__",
        "s3cret-token",
        Backoff(1, 0.01, 0.01),
    )
    dist = wheel(tmp_path)
    with pytest.raises(PublishError) as failure:
        index.upload(dist)
    assert "s3cret-token" not in str(failure.value) and "[token]" in str(failure.value)
    assert "s3cret-token" not in " ".join(seen["argv"])  # type: ignore[arg-type]
    environment = seen["env"]
    assert isinstance(environment, dict)
    assert environment["TWINE_PASSWORD"] == "s3cret-token"
    assert "DIGITALOCEAN_ACCESS_TOKEN" not in environment
    assert "s3cret-token" not in repr(index)


SANDBOX = (ROOT / "inventory" / "sandbox.yaml").read_text()


def test_python_artifacts_need_an_index() -> None:
    text = SANDBOX.replace("python_index:\n  url: http://127.79.0.3:8759\n  sandbox: true\n", "")
    with pytest.raises(InventoryError, match="need a 'python_index'"):
        parse_inventory(text, ROOT / "inventory" / "sandbox.yaml")


def test_an_index_over_plain_http_elsewhere_is_refused() -> None:
    text = SANDBOX.replace("url: http://127.79.0.3:8759", "url: http://pypi.example.org")
    with pytest.raises(InventoryError, match=re.escape("python_index.url: plain http")):
        parse_inventory(text, ROOT / "inventory" / "sandbox.yaml")


def test_hooks_never_get_the_index_token() -> None:
    text = SANDBOX + 'hooks:\n  after_publish: ["true"]\n  env: [PYTHON_INDEX_TOKEN]\n'
    with pytest.raises(InventoryError, match="PYTHON_INDEX_TOKEN, which holds a secret"):
        parse_inventory(text, ROOT / "inventory" / "sandbox.yaml")


def test_a_page_html_parser_chokes_on_is_a_page_error() -> None:
    # HTMLParser raises AssertionError on an unknown marked section.
    with pytest.raises(PageError, match="unreadable"):
        served_files("<![foo[ x")
