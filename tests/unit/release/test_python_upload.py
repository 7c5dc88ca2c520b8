"""The Python distributions' publish check and upload, against an index in memory."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from orchestrator.errors import BuildError, PublishError
from orchestrator.pyindex.index import Backoff
from orchestrator.release.artifacts import Artifact
from orchestrator.release.handlers.build import refuse_clashing_distributions
from orchestrator.release.handlers.context import ReleaseContext, TargetRun
from orchestrator.release.handlers.pyindex import served_python, upload_python
from orchestrator.release.journal import JOURNAL
from orchestrator.release.operations import UploadPython

OPERATION = UploadPython(
    timeout=0.0, index="https://index", project="hello", version="1.2.3", targets=("a", "b")
)
WHEEL, SDIST = "hello-1.2.3-py3-none-any.whl", "hello-1.2.3.tar.gz"


@dataclass
class Index:
    """An index in memory; ``stale`` read-backs still show the page as it was before."""

    served: dict[str, str | None] = field(default_factory=dict)
    stale: int = 0
    busy: bool = False
    uploads: list[str] = field(default_factory=list)
    reads: int = 0
    backoff: Backoff = field(default_factory=lambda: Backoff(attempts=4, first=0.0))
    upload_url: str = "https://index/legacy/"
    where: str = "the Python index https://index/legacy/"
    pending: dict[str, str] = field(default_factory=dict)

    def files(self, name: str) -> dict[str, str | None]:
        self.reads += 1
        if self.busy:
            raise PublishError(f"{self.where}: answered 503 after 4 attempts")
        if self.pending and self.stale:
            self.stale -= 1
        elif self.pending:
            self.served |= self.pending
            self.pending = {}
        return dict(self.served)

    def upload(self, path: Path) -> None:
        self.uploads.append(path.name)
        self.pending[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()


def artifact(directory: Path, name: str, data: bytes) -> Artifact:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    return Artifact(path, f"dist/{name}", sha, len(data), "python")


def context_of(tmp_path: Path, index: Index, runs: dict[str, TargetRun]) -> ReleaseContext:
    said: list[str] = []
    made = SimpleNamespace(
        plan=SimpleNamespace(after=(OPERATION,), tag="v1.2.3"),
        python_index=index,
        paths=SimpleNamespace(run_dir=tmp_path / "runs" / "now"),
        runs=runs,
        earlier_python=[],
        python_served=False,
        python_unread=None,
        python=[],
        messages=[],
        published=[],
        say=said.append,
        said=said,
    )
    return cast(ReleaseContext, made)


def earlier_run(tmp_path: Path, artifacts: dict[str, list[Artifact]]) -> str:
    journal: dict[str, Any] = {
        "targets": {
            target: {
                "status": "verified",
                "artifacts": [
                    {"path": str(a.path), "name": a.name, "sha256": a.sha256, "size": a.size,
                     "kind": a.kind}
                    for a in found
                ],
            }
            for target, found in artifacts.items()
        }
    }  # fmt: skip
    run = tmp_path / "runs" / "earlier"
    run.mkdir(parents=True)
    (run / JOURNAL).write_text(json.dumps(journal))
    return "earlier"


def test_a_wheel_without_its_sdist_is_not_the_release_served(tmp_path: Path) -> None:
    wheel = artifact(tmp_path / "e", WHEEL, b"wheel")
    sdist = artifact(tmp_path / "e", SDIST, b"sdist")
    run_id = earlier_run(tmp_path, {"a": [wheel, sdist]})
    index = Index(served={WHEEL: wheel.sha256})  # the sdist's upload failed
    context = context_of(tmp_path, index, {})
    assert not served_python(context, run_id)
    assert any(SDIST in line for line in cast(Any, context).said)
    index.served[SDIST] = sdist.sha256
    assert served_python(context, run_id)


def test_an_index_that_cannot_be_read_is_said_so(tmp_path: Path) -> None:
    context = context_of(tmp_path, Index(busy=True), {})
    assert not served_python(context, None)
    assert context.python_unread is not None and "could not be read" in context.python_unread


def test_the_read_back_waits_for_a_lagging_index(tmp_path: Path) -> None:
    wheel = artifact(tmp_path / "a", WHEEL, b"wheel")
    index = Index(stale=2)
    context = context_of(tmp_path, index, {"a": TargetRun(artifacts=(wheel,)), "b": TargetRun()})
    upload_python(OPERATION, context)
    assert index.uploads == [WHEEL]
    assert [p.file for p in context.python] == [WHEEL]


def test_a_read_back_that_never_shows_the_file_fails_after_polling(tmp_path: Path) -> None:
    wheel = artifact(tmp_path / "a", WHEEL, b"wheel")
    index = Index(stale=100)
    context = context_of(tmp_path, index, {"a": TargetRun(artifacts=(wheel,)), "b": TargetRun()})
    with pytest.raises(PublishError, match="does not serve"):
        upload_python(OPERATION, context)
    assert index.reads == 1 + index.backoff.attempts


def test_two_targets_building_one_file_alike_upload_it_once(tmp_path: Path) -> None:
    first = artifact(tmp_path / "a", SDIST, b"same")
    second = artifact(tmp_path / "b", SDIST, b"same")
    index = Index()
    runs = {"a": TargetRun(artifacts=(first,)), "b": TargetRun(artifacts=(second,))}
    context = context_of(tmp_path, index, runs)
    refuse_clashing_distributions(context, "b")
    upload_python(OPERATION, context)
    assert index.uploads == [SDIST]


def test_two_targets_building_one_file_otherwise_are_refused_naming_both(tmp_path: Path) -> None:
    first = artifact(tmp_path / "a", SDIST, b"one")
    second = artifact(tmp_path / "b", SDIST, b"other")
    runs = {"a": TargetRun(artifacts=(first,)), "b": TargetRun(artifacts=(second,))}
    context = context_of(tmp_path, Index(), runs)
    with pytest.raises(BuildError) as refused:
        refuse_clashing_distributions(context, "b")
    message = str(refused.value)
    assert "\n" not in message
    assert all(word in message for word in ("a", "b", SDIST))
    with pytest.raises(PublishError, match=SDIST):
        upload_python(OPERATION, context)
