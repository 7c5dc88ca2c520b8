"""Where a release meets the world: build hosts, publish targets, the key, the source, the indexes."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from orchestrator.cloud.buildhosts import BuildHosts
from orchestrator.images.registry import Registry
from orchestrator.publish.info import Say
from orchestrator.publish.target import PublishTarget
from orchestrator.pyindex.index import PythonIndex
from orchestrator.release.journal import Journal
from orchestrator.release.plan import Plan
from orchestrator.repo.signing import SigningKey


@dataclass(frozen=True)
class Seams:
    """What a release runs against: the real things (see ``orchestrator.cli``) or fakes."""

    build_hosts: Callable[[Plan, Journal], BuildHosts]
    publish_targets: Callable[[], list[PublishTarget]]
    signing_key: Callable[[], AbstractContextManager[SigningKey]]
    export_source: Callable[[Path, str, Path], Path]
    verify: Callable[[str, str, Say], list[str]] | None = None  # failures, by version, channel
    registry: Callable[[], Registry] | None = None  # where image targets push
    python_index: Callable[[], PythonIndex] | None = None  # where Python distributions go
