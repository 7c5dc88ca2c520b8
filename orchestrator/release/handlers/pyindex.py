"""The Python distributions: uploaded to the package index once the repositories are published.

- the publish check asks :func:`served_python` whether the index serves the release: every
  distribution of the run that put the version in the local tree, with its sha256 (a
  wheel without its sdist, whose upload failed, is not the release served); when that
  run's files are not on this machine, any file of the version counts. The index is read
  with its back-off; one that cannot be read is said so, never taken for one that lacks it;
- ``upload-python`` reads the index's page of the project, uploads with twine the
  distributions it lacks, skips those it has with the same sha256 (a re-run) and fails on
  one it has with other bytes, naming the file; then reads the page back, again with
  back-off while it lags (a CDN in front of the index). Two targets that built one file
  name upload it once if alike; with other bytes the builds were refused already
  (:func:`clashing_distributions`). Its failure says the repositories are published
  already, and how to finish.

When the builds were skipped (the local tree has the version, a target or the index
lacks it), the distributions are the verified ones of the run that put the version in
the tree, if its files are intact (:func:`earlier_distributions`).
"""

from __future__ import annotations

import time

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from orchestrator.errors import PublishError
from orchestrator.pyindex.index import PythonIndex
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


def served_python(context: ReleaseContext, run_id: str | None) -> bool:
    """Whether the index serves the release's distributions (True if none is due).

    Every distribution of run ``run_id`` (the one that put the version in the local
    tree) must be listed with its sha256; without that run's files, any file of the
    version counts. An index that cannot be read is not served, and
    ``context.python_unread`` says why.
    """
    operation = _upload_operation(context)
    if operation is None:
        return True
    index = python_index(context)
    try:
        files = index.files(operation.project)
    except PublishError as error:
        context.python_unread = f"{error}: the index could not be read"
        context.say(context.python_unread)
        return False
    wanted = Version(operation.version)
    of_version = {name: sha for name, sha in files.items() if _version_of(name) == wanted}
    earlier = _earlier(context, operation, run_id) if run_id else []
    lacking = sorted({a.path.name for _, a in earlier if of_version.get(a.path.name) != a.sha256})
    if of_version and lacking:
        context.say(f"{index.where} lacks {', '.join(lacking)} of run {run_id}: uploading it again")
    context.python_served = bool(of_version) and not lacking
    return context.python_served


def _earlier(
    context: ReleaseContext, operation: UploadPython, run_id: str
) -> list[tuple[str, Artifact]]:
    journal = read_journal(context.paths.run_dir.parent / run_id / JOURNAL) or {}
    reusable = reusable_artifacts(journal)
    return [
        (target, artifact)
        for target in operation.targets
        for artifact in reusable.get(target, ())
        if artifact.kind == "python"
    ]


def earlier_distributions(context: ReleaseContext, run_id: str) -> bool:
    """Take the verified distributions of run ``run_id``, if its files are intact; whether any."""
    operation = _upload_operation(context)
    if operation is None:
        return True
    context.earlier_python = _earlier(context, operation, run_id)
    return bool(context.earlier_python)


def clashing_distributions(dists: list[tuple[str, Artifact]]) -> str | None:
    """What is wrong when two targets built one file name with different bytes, else None."""
    first: dict[str, tuple[str, Artifact]] = {}
    for target, artifact in dists:
        name = artifact.path.name
        other, seen = first.setdefault(name, (target, artifact))
        if seen.sha256 != artifact.sha256:
            return (
                f"{other} and {target} both built {name}, with different bytes (sha256 "
                f"{seen.sha256[:12]}..., {artifact.sha256[:12]}...): an index keeps one file "
                "of a name; make the build reproducible or let one target build it"
            )
    return None


def _distinct(dists: list[tuple[str, Artifact]]) -> list[tuple[str, Artifact]]:
    """One of each file name (two targets may build the same sdist); PublishError on a clash."""
    clash = clashing_distributions(dists)
    if clash is not None:
        raise PublishError(clash)
    first: dict[str, tuple[str, Artifact]] = {}
    for target, artifact in dists:
        first.setdefault(artifact.path.name, (target, artifact))
    return list(first.values())


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
        _upload(operation, context, python_index(context), _distinct(dists))
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
    served = _read_back(index, operation.project, local)
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


def _read_back(index: PythonIndex, project: str, local: dict[str, str]) -> dict[str, str | None]:
    """The index's page once it lists every file of ``local`` alike, or after its back-off.

    An index behind a CDN (PyPI) may serve its page as it was before the upload for a
    while: asked again with the index's back-off before the upload is called a failure.
    """
    delay = index.backoff.first
    for attempt in range(1, index.backoff.attempts + 1):
        served = index.files(project)
        if all(served.get(name) == sha256 for name, sha256 in local.items()):
            break
        if attempt < index.backoff.attempts:
            time.sleep(min(delay, index.backoff.longest))
            delay *= 2
    return served
