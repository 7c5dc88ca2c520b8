"""The seams of a release, all fakes: build hosts, publish targets, key, source."""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from orchestrator.release.journal import Journal
from orchestrator.release.plan import Plan
from orchestrator.release.seams import Seams
from orchestrator.repo.signing import SigningKey
from orchestrator.testing.hosts import FakeBuildHosts
from orchestrator.testing.publish import MemoryTarget
from orchestrator.testing.signing import FakeSigner


def fake_export(repository: Path, commit: str, output: Path) -> Path:
    """A source archive that names the commit, as ``git archive`` would write one."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(gzip.compress(f"source of {commit} in {repository}\n".encode()))
    return output


def fake_seams(
    hosts: FakeBuildHosts, targets: Sequence[MemoryTarget], signer: FakeSigner | None = None
) -> Seams:
    """Seams that build on ``hosts``, publish to ``targets`` and sign with ``signer``."""
    key = signer or FakeSigner()

    def build_hosts(_plan: Plan, _journal: Journal) -> FakeBuildHosts:
        return hosts

    @contextmanager
    def signing_key() -> Iterator[SigningKey]:
        yield key

    return Seams(
        build_hosts=build_hosts,
        publish_targets=lambda: list(targets),
        signing_key=signing_key,
        export_source=fake_export,
    )
