"""The sandbox registry's third-party image, ``vendor/cache``, on the real registry and Docker.

Ensuring the sandbox's registry pushes ``1.4.0``, ``1.5.0``, ``2.0.0`` and ``latest`` (the
same digest as ``2.0.0``), each serving its own health text; ensuring it again, or after a
restart on the same storage, sends one tag list and nothing else; a publisher's new
version, a broken one and a moved tag are pushed with ``push_cache`` and left alone by the
next ensure. Then a sandbox server's Docker (role "run") pulls ``2.0.0`` with the hosts'
login and the container answers ``cache 2.0.0`` on port 8081 of the server's address.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import random
import shutil
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import paramiko
import pytest

from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.images.names import VERSION_LABEL
from orchestrator.images.registry import Registry
from orchestrator.images.served import ServedTag, served_tag
from orchestrator.sandbox import control, registry, servers, vendor
from orchestrator.sandbox.servers import ServerAccess, ServerSpec
from orchestrator.sandbox.vendorimage import ARM64_BUSYBOX
from tests.conftest import loopback_network

pytestmark = pytest.mark.integration

REPOSITORY = vendor.REPOSITORY


def _registry_address() -> str:
    # Outside the test pools (127.100-254.x.0/24 are /24s; .2 of 127.200-254 is a service's).
    return f"{loopback_network(200, 254)}.2"


class Counted:
    """Every request the Registry client sends, and its uploads and manifest PUTs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.requests: list[str] = []
        self.uploads = 0
        self.puts = 0
        exchange, upload, put = Registry._exchange, Registry.upload_blob, Registry.put_manifest

        def counted_exchange(client: Registry, method: str, reference: str, **kw: Any) -> Any:
            self.requests.append(f"{method} {reference}")
            return exchange(client, method, reference, **kw)

        def counted_upload(client: Registry, *args: Any) -> None:
            self.uploads += 1
            upload(client, *args)

        def counted_put(client: Registry, *args: Any) -> str:
            self.puts += 1
            return put(client, *args)

        monkeypatch.setattr(Registry, "_exchange", counted_exchange)
        monkeypatch.setattr(Registry, "upload_blob", counted_upload)
        monkeypatch.setattr(Registry, "put_manifest", counted_put)

    def reset(self) -> None:
        self.requests, self.uploads, self.puts = [], 0, 0


def _www(client: Registry, tag: ServedTag) -> list[dict[str, bytes | None]]:
    """The files of each platform image's last layer (``/www``)."""
    found = []
    for image in tag.images:
        manifest = client.manifest(REPOSITORY, image.digest)
        assert manifest is not None
        layer = json.loads(manifest.body)["layers"][-1]["digest"]
        plain = gzip.decompress(client.blob(REPOSITORY, layer))
        with tarfile.open(fileobj=io.BytesIO(plain)) as archive:
            found.append(
                {
                    m.name: (r.read() if (r := archive.extractfile(m)) else None)
                    for m in archive.getmembers()
                }
            )
    return found


def _served(client: Registry, tag: str) -> ServedTag:
    served = served_tag(client, REPOSITORY, tag)
    assert served is not None, tag
    return served


@pytest.fixture
def settings(sandbox_settings: Callable[..., SandboxSettings]) -> SandboxSettings:
    return sandbox_settings(registry_address=_registry_address())


def test_the_registry_has_vendor_cache_and_a_second_ensure_pushes_nothing(
    settings: SandboxSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted = Counted(monkeypatch)
    access = control.ensure_registry(settings)
    client = vendor.registry_of(access)
    assert set(client.tags(REPOSITORY)) == {"1.4.0", "1.5.0", "2.0.0", "latest"}
    platforms = ("linux/amd64", "linux/arm64") if ARM64_BUSYBOX.is_file() else ("linux/amd64",)
    for version in vendor.VERSIONS:
        served = _served(client, version)
        assert served.platforms == platforms and served.index == (len(platforms) > 1)
        assert all(VERSION_LABEL not in image.labels for image in served.images)
        health = f"cache {version}\n".encode()
        assert _www(client, served) == [{"www": None, "www/health": health}] * len(platforms)
    assert _served(client, "latest").digest == _served(client, "2.0.0").digest

    counted.reset()
    assert control.ensure_registry(settings) == access
    assert (counted.uploads, counted.puts) == (0, 0)
    assert counted.requests == [f"GET /v2/{REPOSITORY}/tags/list?n=100"]

    # A restart on the same storage keeps the images: nothing to push.
    registry.stop(settings)
    assert registry.processes_of(settings) == []
    counted.reset()
    control.ensure_registry(settings)
    assert (counted.uploads, counted.puts, len(counted.requests)) == (0, 0, 1)

    # The publisher's new version, a broken one, and latest moved onto it.
    digest = vendor.push_cache(access, "2.1.0")
    assert _served(client, "2.1.0").digest == digest
    assert _www(client, _served(client, "2.1.0"))[0]["www/health"] == b"cache 2.1.0\n"
    broken = vendor.push_cache(access, "1.5.1", healthy=False, tags=["1.5.1", "latest"])
    assert _served(client, "latest").digest == _served(client, "1.5.1").digest == broken
    assert _www(client, _served(client, "1.5.1"))[0] == {"www": None}
    counted.reset()
    control.ensure_registry(settings)
    assert (counted.uploads, counted.puts) == (0, 0)
    assert _served(client, "latest").digest == broken


def _ssh(access: ServerAccess, command: str) -> str:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    pinned = paramiko.Ed25519Key(data=base64.b64decode(access.host_key.split()[1]))
    client.get_host_keys().add(f"[{access.address}]:{access.port}", pinned.get_name(), pinned)
    client.get_host_keys().add(access.address, pinned.get_name(), pinned)
    try:
        client.connect(
            access.address, port=access.port, username=access.user,
            key_filename=str(access.identity_file), look_for_keys=False, allow_agent=False,
            timeout=10,
        )  # fmt: skip
        _, stdout, stderr = client.exec_command(command, timeout=120)
        output: str = stdout.read().decode()
        assert stdout.channel.recv_exit_status() == 0, stderr.read().decode()
        return output
    finally:
        client.close()


def _health(address: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{address}:8081/health", timeout=2) as answer:
                return str(answer.read().decode())
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def runner(settings: SandboxSettings) -> Iterator[ServerAccess]:
    """A sandbox server whose Docker runs containers, logged in to the sandbox registry."""
    if not shutil.which("systemd-nspawn") or not shutil.which("mmdebstrap"):
        pytest.skip("sandbox servers need systemd-nspawn and mmdebstrap")
    hosts = registry.host_access(settings)
    login = (
        f"{settings.registry_address}:{settings.registry_port}",
        hosts.username,
        hosts.password,
    )
    # Where the sandbox's servers go (127.50-99), apart from the other tests' addresses.
    address = f"{loopback_network(50, 99)}.{random.randint(2, 254)}"
    spec = ServerSpec("cache-1", address, engine="run", pull_login=login)
    yield servers.ensure_servers(settings, [spec])["cache-1"]


def test_a_compose_server_runs_the_image_and_it_answers_its_health(
    settings: SandboxSettings, runner: ServerAccess
) -> None:
    access = control.ensure_registry(settings)
    image = f"{access.url.removeprefix('http://')}/{REPOSITORY}:2.0.0"
    # As the sandbox's Compose projects run a service: host network, the address mounted.
    _ssh(
        runner,
        f"docker run -d --name cache --network host --restart no "
        f"-v /etc/listen-address:/etc/listen-address:ro {image}",
    )
    assert _health(runner.address) == "cache 2.0.0\n"
    inspected = json.loads(_ssh(runner, f"docker image inspect {image}"))
    assert inspected[0]["Architecture"] == "amd64"
    assert VERSION_LABEL not in (inspected[0]["Config"]["Labels"] or {})
