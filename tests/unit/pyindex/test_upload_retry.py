"""An upload the index stored but answered 5xx (or timed out) is not retried blindly."""

import hashlib
import http.server
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.errors import PublishError
from orchestrator.pyindex.index import Backoff, PythonIndex

from .test_pyindex import wheel


class Served(http.server.BaseHTTPRequestHandler):
    """A simple page listing whatever ``files`` holds (name: sha256)."""

    files: dict[str, str] = {}
    reads = 0

    def do_GET(self) -> None:
        Served.reads += 1
        links = "".join(
            f'<a href="/packages/{name}#sha256={sha256}">{name}</a>'
            for name, sha256 in self.files.items()
        )
        body = f"<html><body>{links}</body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served() -> Iterator[str]:
    Served.files, Served.reads = {}, 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Served)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Twine:
    """Stands for ``python -m twine upload``: each call takes the next outcome."""

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes = outcomes
        self.calls = 0

    def __call__(self, command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if outcome == "timeout":
            raise subprocess.TimeoutExpired(command, 1.0)
        said = "" if outcome == "ok" else f"ERROR    HTTPError: {outcome}"
        return subprocess.CompletedProcess(command, 0 if outcome == "ok" else 1, said, "")


def index(url: str) -> PythonIndex:
    return PythonIndex(url, f"{url}/simple/", "__token__", "tok", Backoff(3, 0.0, 0.0))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_stored_despite_a_502_is_not_uploaded_again(
    served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = wheel(tmp_path)
    # The index stored the file, then answered 502; uploading again would answer 400.
    twine = Twine(["502 Bad Gateway", "400 File already exists"])
    monkeypatch.setattr(subprocess, "run", twine)
    Served.files = {dist.name: sha256(dist)}
    index(served).upload(dist)
    assert twine.calls == 1 and Served.reads == 1


def test_a_timed_out_upload_the_index_has_with_other_bytes_names_the_file(
    served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = wheel(tmp_path)
    twine = Twine(["timeout", "400 File already exists"])
    monkeypatch.setattr(subprocess, "run", twine)
    Served.files = {dist.name: "ab" * 32}
    with pytest.raises(PublishError, match=re.escape(f"has {dist.name} with sha256 abab")):
        index(served).upload(dist)
    assert twine.calls == 1


def test_a_file_the_index_lacks_after_a_503_is_uploaded_again(
    served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = wheel(tmp_path)
    twine = Twine(["503 Service Unavailable", "timeout", "ok"])
    monkeypatch.setattr(subprocess, "run", twine)
    index(served).upload(dist)
    assert twine.calls == 3 and Served.reads == 2


def test_an_index_busy_at_every_attempt_is_named(
    served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = wheel(tmp_path)
    monkeypatch.setattr(subprocess, "run", Twine(["503 Service Unavailable"] * 3))
    with pytest.raises(PublishError, match=r"503 Service Unavailable after 3 attempts"):
        index(served).upload(dist)
    assert Served.reads == 2
