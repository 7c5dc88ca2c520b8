"""The Python distributions: uploaded to the package index once the repositories are published.

- the publish check asks :func:`served_python` whether the index has the project at the
  release's version (once, no back-off: an index that does not answer is one to upload to);
- ``upload-python`` reads the index's page of the project, uploads with twine the
  distributions it lacks, skips those it has with the same sha256 (a re-run) and fails on
  one it has with other bytes, naming the file; then reads the page back. Its failure
  says the repositories are published already, and how to finish.

When the builds were skipped (the local tree has the version, a target or the index
lacks it), the distributions are the verified ones of the run that put the version in
the tree, if its files are intact (:func:`earlier_distributions`).
"""

from __future__ import annotations

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from orchestrator.errors import PublishError
from orchestrator.pyindex.index import Backoff, PythonIndex
from orchestrator.pyindex.simple import PageError, to_upload
from orchestrator.release.artifacts import Artifact
from orchestrator.release.handlers.context import ReleaseContext
from orchestrator.release.handlers.family import Family
from orchestrator.release.journal import JOURNAL, read_journal, reusable_artifacts
from orchestrator.release.operations import UploadPython
from orchestrator.release.summary import PythonSummary

FAMILY = Family("python")


def python_index(context: ReleaseContext) -> PythonIndex:
    """The index Python distributions go to, opened once."""
    if context.python_index is None:
        if context.seams.python_index is None:
            raise PublishError("python_artifacts need an index: add 'python_index'")
        context.python_index = context.seams.python_index()
    return context.python_index


def _upload_operation(context: ReleaseContext) -> UploadPython | None:
    return next((op for op in context.plan.after if isinstance(op, UploadPython)), None)


def _version_of(file: str) -> Version | None:
    try:
        if file.endswith(".whl"):
            return parse_wheel_filename(file)[1]
        return parse_sdist_filename(file)[1]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def served_python(context: ReleaseContext) -> bool:
    """Whether the index has a distribution of the project at this version (True if none is due).

    Asked once: an index that does not answer is taken to lack it, and the upload, with
    its back-off, says what is wrong with it.
    """
    operation = _upload_operation(context)
    if operation is None:
        return True
    index = python_index(context)
    once = PythonIndex(
        index.upload_url, index.simple_url, index.username, index.token, Backoff(attempts=1)
    )
    try:
        files = once.files(operation.project)
    except PublishError as error:
        context.say(f"{error}: taken to lack {operation.project} {operation.version}")
        return False
    wanted = Version(operation.version)
    context.python_served = any(_version_of(name) == wanted for name in files)
    return context.python_served


def earlier_distributions(context: ReleaseContext, run_id: str) -> bool:
    """Take the verified distributions of run ``run_id``, if its files are intact; whether any."""
    operation = _upload_operation(context)
    if operation is None:
        return True
    journal = read_journal(context.paths.run_dir.parent / run_id / JOURNAL) or {}
    reusable = reusable_artifacts(journal)
    context.earlier_python = [
        (target, artifact)
        for target in operation.targets
        for artifact in reusable.get(target, ())
        if artifact.kind == "python"
    ]
    return bool(context.earlier_python)


def _distributions(context: ReleaseContext, operation: UploadPython) -> list[tuple[str, Artifact]]:
    built = [
        (target, artifact)
        for target in operation.targets
        for artifact in context.runs[target].artifacts
        if artifact.kind == "python"
    ]
    return built or list(context.earlier_python)


@FAMILY.run_wide(UploadPython)
def upload_python(operation: UploadPython, context: ReleaseContext) -> None:
    """Upload what the index lacks, skip what it has alike, fail on what it has otherwise."""
    dists = _distributions(context, operation)
    if not dists and context.python_served:
        context.messages.append(
            f"python: {operation.project} {operation.version} is on the index already"
        )
        return
    try:
        if not dists:
            raise PublishError(
                f"no verified Python distribution of {operation.project} {operation.version} "
                "is left on this machine to upload"
            )
        _upload(operation, context, python_index(context), dists)
    except PublishError as error:
        published = ", ".join(p.name for p in context.published)
        state = (
            f"the repositories are published already ({published}); "
            if published
            else "no repository was published by this run; "
        )
        raise PublishError(
            f"{error}; {state}the Python distributions are not all on the index: fix it and "
            f"run the release of {context.plan.tag} again"
        ) from None


def _upload(
    operation: UploadPython,
    context: ReleaseContext,
    index: PythonIndex,
    dists: list[tuple[str, Artifact]],
) -> None:
    local = {artifact.path.name: artifact.sha256 for _, artifact in dists}
    try:
        missing = set(to_upload(local, index.files(operation.project)))
    except PageError as error:
        raise PublishError(f"{index.where}: {error}") from None
    for _, artifact in dists:
        if artifact.path.name in missing:
            index.upload(artifact.path)
    served = index.files(operation.project)
    for target, artifact in dists:
        name = artifact.path.name
        if served.get(name) != artifact.sha256:
            raise PublishError(
                f"{index.where} does not serve {name} as uploaded (sha256 "
                f"{served.get(name) or 'none'}, not {artifact.sha256})"
            )
        context.python.append(
            PythonSummary(target, name, artifact.sha256, index.upload_url, name in missing)
        )
    there = len(dists) - len(missing)
    context.messages.append(
        f"python: {operation.project} {operation.version} on {index.upload_url}: "
        f"{len(missing)} uploaded, {there} there already with the same sha256"
    )
