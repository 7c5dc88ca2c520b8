"""Python distributions in a sandbox release: uploaded to pypiserver once, byte for byte."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from orchestrator.sandbox import pyindex
from orchestrator.sandbox.example import init_example_repository
from tests.conftest import new_test_directory
from tests.integration.conftest import ROOT, SandboxWorld, http_server, sandbox_inventory, world_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world() -> Iterator[SandboxWorld]:
    """One sandbox whose only target is amd64-deb, which builds hello's distributions."""
    directory = new_test_directory()
    data, sandbox = sandbox_inventory(directory, python=True)
    data["targets"] = [t for t in data["targets"] if t["name"] == "amd64-deb"]
    data["workspace"] = str(directory / "workspace")
    with world_of(directory, data, sandbox) as made:
        init_example_repository(
            ROOT / "examples" / "hello", directory / "source", ["v1.2.3", "v1.2.4", "v1.3.0-rc.1"]
        )
        yield made


def run_dir_dists(summary: dict[str, object], world: SandboxWorld) -> dict[str, bytes]:
    root = world.directory / "workspace" / ".orchestrator" / "runs" / str(summary["run_id"])
    return {
        p.name: p.read_bytes()
        for p in root.glob("artifacts/amd64-deb/dist/hello-*")
        if p.name.endswith((".whl", ".tar.gz"))
    }


def test_release_uploads_once_and_pip_gets_the_same_bytes(world: SandboxWorld) -> None:
    result = world.invoke("release", "--tag", "v1.2.3", "--json")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads(result.stdout)
    built = run_dir_dists(summary, world)
    assert sorted(built) == ["hello-1.2.3-py3-none-any.whl", "hello-1.2.3.tar.gz"]
    assert sorted((d["file"], d["uploaded"]) for d in summary["python"]) == [
        (name, True) for name in sorted(built)
    ]
    access = pyindex.access(world.settings)
    token = access.token
    assert token not in result.stdout + result.stderr
    assert token not in Path(summary["report"]).read_text()
    logs = world.directory / "workspace" / "logs" / summary["run_id"]
    assert all(token not in p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file())

    downloads = world.directory / "downloads"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "hello==1.2.3",
            "--no-deps",
            "-d",
            str(downloads),
            "-i",
            access.simple_url,
            "--disable-pip-version-check",
            "--no-cache-dir",
            "--quiet",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    got = {p.name: p.read_bytes() for p in downloads.iterdir()}
    assert got["hello-1.2.3-py3-none-any.whl"] == built["hello-1.2.3-py3-none-any.whl"]
    stored = pyindex.packages(world.settings)
    assert {p.name: p.read_bytes() for p in stored.iterdir()} == built
    mtimes = {p.name: p.stat().st_mtime_ns for p in stored.iterdir()}

    # A re-run: nothing to do, nothing uploaded a second time.
    again = world.invoke("release", "--tag", "v1.2.3")
    assert again.returncode == 0 and "already published" in again.stdout, again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in stored.iterdir()} == mtimes

    # Verify installs it from the index into a throwaway environment.
    verified = world.invoke("verify", "--version", "1.2.3")
    assert "installed hello 1.2.3" in verified.stdout, verified.stdout[-2000:]


def test_a_wheel_on_the_index_without_its_sdist_is_uploaded_again(world: SandboxWorld) -> None:
    # After test_release_uploads_once...: the sdist's upload of 1.2.3 failed (say 5xx).
    stored = pyindex.packages(world.settings)
    sdist = stored / "hello-1.2.3.tar.gz"
    kept = sdist.read_bytes()
    sdist.unlink()
    again = world.invoke("release", "--tag", "v1.2.3")
    assert again.returncode == 0, again.stdout[-2000:]
    assert "already published" not in again.stdout
    assert "publishing it again" in again.stdout, again.stdout[-2000:]
    assert sdist.read_bytes() == kept
    assert "1 uploaded, 1 there already" in again.stdout, again.stdout[-2000:]


def test_other_bytes_on_the_index_under_a_name_fail_naming_the_file(world: SandboxWorld) -> None:
    # Someone put another hello-1.2.4 wheel on the index first.
    stored = pyindex.packages(world.settings)
    (stored / "hello-1.2.4-py3-none-any.whl").write_bytes(b"not this build's wheel")
    result = world.invoke("release", "--tag", "v1.2.4")
    assert result.returncode == 1, result.stdout[-2000:]
    failure = [
        line for line in result.stdout.splitlines() if "hello-1.2.4-py3-none-any.whl" in line
    ]
    assert failure and "release a new version" in failure[0], result.stdout[-2000:]
    assert "the repositories are published already (sandbox-repo)" in failure[0]
    assert (stored / "hello-1.2.4-py3-none-any.whl").read_bytes() == b"not this build's wheel"
    world.assert_no_droplets()


class Unavailable(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_an_index_answering_503_fails_after_the_publish_naming_it(world: SandboxWorld) -> None:
    data = yaml.safe_load(world.inventory_path.read_text())
    with http_server(Unavailable) as url:
        data["python_index"] = {
            "url": url,
            "token_env": "TEST_INDEX_TOKEN",
            "attempts": 2,
            "backoff": 0.1,
        }
        path = world.directory / "unavailable.yaml"
        path.write_text(yaml.safe_dump(data))
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "invoke",
                "release",
                "--tag",
                "v1.3.0-rc.1",
                "--inventory",
                str(path),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, "TEST_INDEX_TOKEN": "s3cret-token"},
        )
    assert result.returncode == 1, result.stdout[-2000:]
    failure = [
        line
        for line in result.stdout.splitlines()
        if "answered 503" in line and "published" in line
    ]
    assert failure and url in failure[0], result.stdout[-2000:]
    assert "the repositories are published already (sandbox-repo)" in failure[0]
    assert "s3cret-token" not in result.stdout + result.stderr
    world.assert_no_droplets()

    # Once the index answers, a re-run uploads what the failed run verified, unbuilt.
    again = world.invoke("release", "--tag", "v1.3.0-rc.1")
    assert again.returncode == 0, again.stdout[-2000:]
    assert "publishing it again" in again.stdout
    assert sorted(p.name for p in pyindex.packages(world.settings).glob("hello-1.3.0rc1*")) == [
        "hello-1.3.0rc1-py3-none-any.whl",
        "hello-1.3.0rc1.tar.gz",
    ]


def test_a_missing_token_is_exit_2_before_any_droplet(world: SandboxWorld) -> None:
    data = yaml.safe_load(world.inventory_path.read_text())
    data["python_index"] = {
        "url": "https://upload.example.org/legacy/",
        "token_env": "NO_SUCH_TOKEN_SET",
    }
    path = world.directory / "tokenless.yaml"
    path.write_text(yaml.safe_dump(data))
    before = world.request_count()
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "release", "--tag", "v1.2.4", "--inventory", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "NO_SUCH_TOKEN_SET" in result.stderr + result.stdout
    assert world.request_count() == before
