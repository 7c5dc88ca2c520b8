"""``relorch init`` as one function: find the repository, name the project, write the files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.engine.newfiles import write_new_files
from orchestrator.starter.gitrepo import origin_url, top_level
from orchestrator.starter.names import checked_name, package_name, repository_name
from orchestrator.starter.render import Starter, ci_choice, starter_files


@dataclass(frozen=True)
class Written:
    """What ``relorch init`` wrote: where, for which project, which files."""

    top: Path
    project: str
    paths: tuple[str, ...]


def project_name(top: Path, name: str | None) -> str:
    """``--name`` if given, else the origin remote's repository name, else the folder's name."""
    if name is not None:
        return checked_name(name)
    url = origin_url(top)
    if url is not None:
        return package_name(repository_name(url), "the origin remote's repository name")
    return package_name(top.name, "the repository's folder name")


def set_up_repository(directory: Path, ci: str | None, name: str | None, version: str) -> Written:
    """Write relorch.yaml (and the ``ci`` pipeline) at the top level of ``directory``'s repository.

    The files go to the top level because the inventory's ``source`` and ``workspace``
    are the repository itself, and CI systems read their files there. Nothing is written
    if any of the files exists (UsageError naming them).
    """
    chosen = ci_choice(ci)
    top = top_level(directory)
    project = project_name(top, name)
    files = starter_files(Starter(project, version, chosen))
    write_new_files(top, files)
    return Written(top, project, tuple(files))
