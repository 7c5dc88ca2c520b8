"""The contract of build hosts (:class:`orchestrator.cloud.buildhosts.BuildHosts`)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from orchestrator.cloud.buildhosts import BuildHosts, Machine
from orchestrator.commands import build as commands
from orchestrator.errors import HostError
from orchestrator.remote import sshexec

WORKDIR = ".relorch/20261122t103005-a1b2c3/contract"


def source_archive(directory: Path) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("README")
        info.size = 6
        archive.addfile(info, io.BytesIO(b"hello\n"))
    path = directory / "source.tar.gz"
    path.write_bytes(buffer.getvalue())
    return path


def check_build_hosts(hosts: BuildHosts, machine: Machine, directory: Path) -> None:
    """What every kind of build host does with the commands a plan gives it."""
    hosts.check_capacity([machine])
    opened = hosts.open(machine, 30)
    session = opened.session
    output = sshexec.Tail()
    # Unpacking before the source is there fails, as tar does.
    assert session.run(commands.prepare(WORKDIR), timeout=30, output=output) == 0
    assert session.run(commands.unpack(WORKDIR), timeout=30, output=output) != 0
    archive = source_archive(directory)
    session.put(archive, f"{WORKDIR}/{commands.SOURCE_ARCHIVE}")
    with session.reading(f"cat -- {WORKDIR}/{commands.SOURCE_ARCHIVE}", timeout=30) as stream:
        assert stream.read() == archive.read_bytes()
    assert session.run(commands.unpack(WORKDIR), timeout=30, output=output) == 0
    with (
        pytest.raises(HostError, match="No such file"),
        session.reading(f"cat -- {WORKDIR}/{commands.ARTIFACT_ARCHIVE}", timeout=30) as stream,
    ):
        stream.read()
    assert session.run(commands.cleanup(WORKDIR), timeout=30, output=output) == 0
    # Hung up, a session runs nothing more.
    session.hang_up()
    with pytest.raises(HostError):
        session.run(commands.prepare(WORKDIR), timeout=30, output=output)
    session.close()
    hosts.release(machine, 60)
    assert hosts.release_all(60).alive == ()
