"""The product as users install it: the wheel in a fresh virtual environment outside this
checkout, run from an empty directory on a project of the user's own.

The project is not the example: ``greeter``, with its own build script (dpkg-deb, no
nfpm), its own service and health check, released through the sandbox and deployed to
its ``dev`` server as a login that becomes root with sudo. One release goes through
``relorch`` with no ``tasks.py`` (``relorch.yaml`` found by default), the next through
``invoke`` with the two-line ``tasks.py`` a user writes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.sandbox import control
from tests.conftest import git, loopback_network, new_test_directory
from tests.integration.conftest import ROOT, sandbox_inventory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

BUILD = """\
#!/bin/sh
# ./build.sh VERSION ARCH: dist/greeter_VERSION-1_ARCH.deb, with dpkg-deb.
set -eu
version=$1 arch=$2
rm -rf pkg && mkdir -p pkg/DEBIAN pkg/usr/bin pkg/lib/systemd/system dist
sed "s/@VERSION@/$version/" greeter-server > pkg/usr/bin/greeter-server
chmod 755 pkg/usr/bin/greeter-server
cp greeter.service pkg/lib/systemd/system/
cat > pkg/DEBIAN/control <<EOF
Package: greeter
Version: $version-1
Architecture: $arch
Maintainer: Greeter Team <team@example.org>
Depends: python3
Description: says hello over HTTP
EOF
dpkg-deb --root-owner-group --build pkg "dist/greeter_${version}-1_${arch}.deb"
"""

SERVER = """\
#!/usr/bin/python3
import http.server

VERSION = "@VERSION@"
ADDRESS = open("/etc/listen-address").read().strip()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"greeter {VERSION} up".encode()
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.HTTPServer((ADDRESS, 8090), Handler).serve_forever()
"""

SERVICE = """\
[Unit]
Description=greeter

[Service]
ExecStart=/usr/bin/greeter-server
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


def make_project(directory: Path) -> Path:
    """The user's project: a git repository tagged v0.4.0, then v0.5.0."""
    directory.mkdir()
    git(directory, "init", "-q", "-b", "main")
    (directory / "greeter.service").write_text(SERVICE)
    (directory / "build.sh").write_text(BUILD)
    (directory / "build.sh").chmod(0o755)
    for tag in ("v0.4.0", "v0.5.0"):
        (directory / "greeter-server").write_text(
            SERVER.replace("import http", f"# {tag}\nimport http")
        )
        git(directory, "add", "-A")
        git(directory, "commit", "-q", "-m", f"greeter {tag}")
        git(directory, "tag", tag)
    return directory


def inventory(directory: Path, dev_address: str) -> dict[str, object]:
    """What a user writes for a sandbox rehearsal of their project (random loopback ports)."""
    _, sandbox = sandbox_inventory(directory)
    repo = f"{sandbox['repo_server_address']}"
    return {
        "project": {
            "name": "greeter",
            "source": "../greeter",
            "maintainer": "Greeter Team <team@example.org>",
            "description": "Says hello over HTTP",
        },
        "workspace": ".",
        "cloud": {
            "provider": "digitalocean",
            "region": "sandbox1",
            "image": "debian-12-x64",
            "size": "s-1vcpu-1gb",
            "tag_prefix": "greeter",
            "boot_timeout": 30,
            "sandbox": sandbox,
        },
        "targets": [
            {
                "name": "amd64-deb",
                "arch": "amd64",
                "format": "deb",
                "command": "./build.sh {{ version }} {{ arch }}",
                "artifacts": ["dist/*.deb"],
            }
        ],
        "signing": {"sandbox_key": True},
        "repositories": {"channels": ["stable"]},
        "publish": [
            {
                "kind": "ssh",
                "name": "repo",
                "host": repo,
                "path": "/root/repo",
                "url": f"http://{repo}:{sandbox['repo_http_port']}",
                "host_key": "sandbox",
            }
        ],
        "environments": [
            {
                "name": "dev",
                "hosts": [
                    {
                        "name": "greeter-dev",
                        "address": dev_address,
                        "host_key": "sandbox",
                        "user": "deploy",
                        "become": "sudo",
                    }
                ],
                "units": ["greeter.service"],
                "version": "*",
                "auto": True,
                "health": {
                    "http": {
                        "url": "http://{{ address }}:8090/healthz",
                        "contains": "greeter {{ version }} up",
                    },
                    "interval": 0.5,
                    "attempts": 20,
                },
            }
        ],
    }


@pytest.fixture(scope="module")
def installed() -> Iterator[Path]:
    """The wheel built from this checkout, installed into a fresh venv outside it."""
    directory = new_test_directory()
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--no-deps",
                "-w",
                str(directory),
                str(ROOT),
            ],
            check=True,
            capture_output=True,
        )
        (wheel,) = directory.glob("release_orchestrator-*.whl")
        venv = directory / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
            check=True,
            capture_output=True,
        )
        yield venv / "bin"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run(bin_dir: Path, where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A command of the installed package, as a user's shell (or CI job) runs it."""
    environment = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        cwd=where,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def health(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}:8090/healthz", timeout=5) as answer:
        return str(answer.read().decode())


def test_the_installed_wheel_releases_and_deploys_a_users_own_project(installed: Path) -> None:
    directory = new_test_directory()
    make_project(directory / "greeter")
    work = directory / "work"
    work.mkdir()
    dev_address = f"{loopback_network(50, 99)}.11"
    data = inventory(directory, dev_address)
    (work / "relorch.yaml").write_text(yaml.safe_dump(data))
    settings = SandboxSettings.model_validate(data["cloud"]["sandbox"])  # type: ignore[index]
    try:
        version = run(installed, work, "relorch", "--version")
        assert version.returncode == 0 and version.stdout.startswith("relorch "), version.stderr
        # relorch, no tasks.py: relorch.yaml in the current directory is the inventory.
        first = run(installed, work, "relorch", "release", "--tag", "v0.4.0")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert "dev runs 0.4.0 on every host" in first.stdout
        assert health(dev_address) == "greeter 0.4.0 up"

        # invoke, with the two lines a user puts in tasks.py.
        (work / "tasks.py").write_text(
            "from orchestrator.tasks import namespace\n\n__all__ = ['namespace']\n"
        )
        second = run(installed, work, "invoke", "release", "--tag", "v0.5.0")
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        assert health(dev_address) == "greeter 0.5.0 up"
        status = run(installed, work, "relorch", "env.status", "--env", "dev", "--json")
        assert status.returncode == 0, status.stderr
        (view,) = json.loads(status.stdout)
        assert view["hosts"]["greeter-dev"]["installed"] == "0.5.0"
        # Nothing of this checkout was on the way: the package ran from the venv.
        assert str(ROOT) not in first.stdout + first.stderr + second.stdout + second.stderr
        assert (work / "reports").is_dir() and (work / ".orchestrator" / "repository").is_dir()
    finally:
        control.stop(settings)
        leftovers = control.host_processes(settings)
        shutil.rmtree(directory, ignore_errors=True)
        assert leftovers == [], f"sandbox processes left: {leftovers}"
