"""Fixtures for integration tests: a private sandbox per test, cleaned up afterwards."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.cloud.endpoint import open_client
from orchestrator.inventory import Inventory, load_inventory
from orchestrator.sandbox import control
from orchestrator.sandbox.settings import SandboxSettings

ROOT = Path(__file__).resolve().parents[2]
# Under /tmp on purpose: sandbox hosts cover /tmp with a private one and must still find
# their own files (a fresh clone in /tmp runs the sandbox the same way).
TEST_ROOT = Path("/tmp/orchestrator-tests")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SandboxWorld:
    """A private sandbox and an inventory that uses it."""

    directory: Path
    inventory_path: Path
    data: dict[str, Any]
    sandbox: dict[str, Any]

    @property
    def inventory(self) -> Inventory:
        return load_inventory(self.inventory_path)

    @property
    def settings(self) -> SandboxSettings:
        """The sandbox's settings (also once a test points the inventory elsewhere)."""
        return SandboxSettings.model_validate(self.sandbox)

    def rewrite(self, **sandbox: Any) -> None:
        """Change sandbox settings (faults, limits) in the inventory and the running daemon."""
        self.sandbox.update(sandbox)
        self.inventory_path.write_text(yaml.safe_dump(self.data))
        if control.running(self.settings) is not None:
            control.configure(self.settings)

    def invoke(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run ``invoke ARGS --inventory <this inventory>`` as a user would."""
        return subprocess.run(
            [sys.executable, "-m", "invoke", *args, "--inventory", str(self.inventory_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            check=False,
        )

    def request_count(self) -> int:
        return len(control.request_log(self.settings))

    def assert_no_droplets(self) -> None:
        """No droplet listed, and (just after, as on DigitalOcean) no host process left."""
        assert open_client(self.inventory).list_droplets("relorch") == []
        deadline = time.monotonic() + 10
        while control.host_processes(self.settings) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert control.host_processes(self.settings) == []


@pytest.fixture
def sandbox_world() -> Iterator[SandboxWorld]:
    directory = TEST_ROOT / uuid.uuid4().hex[:12]
    directory.mkdir(parents=True)
    data = yaml.safe_load((ROOT / "inventory" / "sandbox.yaml").read_text())
    data["project"]["source"] = str(directory / "source")
    data["cloud"]["boot_timeout"] = 20
    sandbox = {
        "state_dir": str(directory / "sandbox"),
        "api_port": free_port(),
        "address_pool": f"127.{random.randint(100, 199)}.{random.randint(0, 255)}.0/24",
        "boot_delay": 0.3,
    }
    data["cloud"]["sandbox"] = sandbox
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    world = SandboxWorld(directory, path, data, sandbox)
    try:
        yield world
    finally:
        settings = world.settings
        control.stop(settings)
        leftovers = control.host_processes(settings)
        shutil.rmtree(directory, ignore_errors=True)
        assert leftovers == [], f"sandbox host processes left: {leftovers}"
