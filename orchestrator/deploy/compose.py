r"""The shell commands a ``kind: compose`` deploy runs on a host, and what they print; pure.

A host needs POSIX sh, Docker and Compose: ``docker compose`` (v2) if it answers, else
``docker-compose`` (v1), the one Debian packages. It pulls from the registry with its own
login (``docker login`` by its administrator, a read-only token): the orchestrator's push
credentials never reach a host.

The tag is set where the project's compose file reads it: a line ``VARIABLE=TAG`` in the
project's ``.env`` (its other lines and its mode are kept), or an override file the tool
owns and Compose reads by itself. Then ``pull SERVICE... && up -d --no-deps SERVICE...``
replaces only those services' containers.

The inspection prints, per service with a container, ``SERVICE IMAGE IMAGE-ID STATE``
(``docker inspect``: the reference it was created from, the id of the image it runs, the
container's state), then the records. Every value is quoted with :func:`shlex.quote`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from orchestrator.deploy.commands import MARK, RECORDS_READ, HostFiles
from orchestrator.deploy.environments import ComposeProject
from orchestrator.deploy.hoststate import HostState
from orchestrator.deploy.records import parse_records
from orchestrator.deploy.semver import is_semver
from orchestrator.errors import DeployError

q = shlex.quote
# Picks the host's Compose, or says there is none (status 3).
_PICK = (
    "if docker compose version >/dev/null 2>&1; then dc='docker compose'; "
    "elif command -v docker-compose >/dev/null 2>&1; then dc=docker-compose; "
    "else echo 'this host has neither docker compose nor docker-compose' >&2; exit 3; fi"
)
# Where the new .env or override file is written before it is renamed into place.
_NEW = ".relorch-new"
_RUNNING = "running"


def release_of_tag(tag: str) -> str | None:
    """The release a tag names: itself if it is a semver version (never ``latest``, ``1.2``)."""
    return tag if is_semver(tag) else None


def inspect(files: HostFiles, project: ComposeProject) -> str:
    """Print each service's container (see the module docstring), then the last records."""
    services = " ".join(q(s) for s in project.services)
    template = q("{{.Config.Image}} {{.Image}} {{.State.Status}}")
    return (
        f"{_PICK}; if cd {q(project.directory)} 2>/dev/null; then "
        f"for service in {services}; do "
        'id=$($dc ps -q "$service" 2>/dev/null | head -n 1); '
        f'if [ -n "$id" ]; then printf \'%s \' "$service"; docker inspect --format {template} '
        '"$id" 2>/dev/null || echo; fi; done; fi; '
        f"echo {q(MARK)}; echo {q(MARK)}; tail -n {RECORDS_READ} {q(files.records)} 2>/dev/null; true"
    )


def parse_state(host: str, output: str, project: ComposeProject, reference: str) -> HostState:
    """Parse what :func:`inspect` printed; ``reference`` is ``REGISTRY/REPOSITORY``.

    A service whose container runs another image than ``reference`` (or a digest) has no
    version: it is not the project's release, whatever its tag says.
    """
    sections = output.split(f"{MARK}\n")
    if len(sections) != 3:
        raise DeployError(f"{host}: unexpected answer to the inspection: {output[:200]!r}")
    container_part, _, record_part = sections
    tags: dict[str, str] = {}
    states: dict[str, str] = {}
    digests: dict[str, str] = {}
    wanted = set(project.services)
    for line in container_part.splitlines():
        fields = line.split()
        if len(fields) != 4 or fields[0] not in wanted or fields[0] in states:
            continue
        service, image, image_id, state = fields
        repository, colon, tag = image.rpartition(":")
        states[service] = "active" if state == _RUNNING else state
        if colon and repository == reference and "/" not in tag:
            tags[service] = tag
            digests[service] = image_id
    return HostState(
        host, tags, states, tuple(parse_records(record_part)), {},
        release_of=release_of_tag, digests=digests,
    )  # fmt: skip


def _set_tag(project: ComposeProject, reference: str, tag: str) -> str:
    if project.tag_variable is not None:
        variable = project.tag_variable
        # cp -p first: the new .env keeps the old one's mode (it may hold secrets).
        return (
            f"touch .env && cp -p .env {_NEW} && "
            f"{{ grep -v {q(f'^{variable}=')} .env || true; printf '%s\\n' {q(f'{variable}={tag}')}; }}"
            f" > {_NEW} && mv -f {_NEW} .env"
        )
    override = project.override_file or ""
    lines = ["# Written by the deploy: the image of each service it updates.", "services:"]
    for service in project.services:
        lines += [f"  {service}:", f'    image: "{reference}:{tag}"']
    text = "\n".join(lines) + "\n"
    return f"printf '%s' {q(text)} > {_NEW} && mv -f {_NEW} {q(override)}"


def _unset_tag(project: ComposeProject) -> str:
    if project.tag_variable is not None:
        pattern = q(f"^{project.tag_variable}=")
        return (
            f"if [ -f .env ]; then cp -p .env {_NEW} && {{ grep -v {pattern} .env || true; }} "
            f"> {_NEW} && mv -f {_NEW} .env; fi"
        )
    return f"rm -f {q(project.override_file or '')}"


def put(project: ComposeProject, reference: str, tag: str) -> str:
    """Set ``tag``, pull the services' image and replace their containers."""
    services = " ".join(q(s) for s in project.services)
    return (
        f"{_PICK}; set -e; umask 077; cd {q(project.directory)}; "
        f"{_set_tag(project, reference, tag)}; "
        f"$dc pull -q {services}; $dc up -d --no-deps {services}"
    )


def revert(project: ComposeProject, reference: str, before: Mapping[str, str]) -> str:
    """Put back the tag the services ran (``before``), or remove them if they ran none.

    Services that ran different tags, or some none, cannot share one tag again: the
    command fails, saying so, and the host is left for its administrator.
    """
    tags = {before.get(s) for s in project.services}
    if len(tags) == 1 and (tag := tags.pop()) is not None:
        return put(project, reference, tag)
    services = " ".join(q(s) for s in project.services)
    if before:
        ran = ", ".join(f"{s}: {before.get(s) or 'none'}" for s in project.services)
        return f"echo {q(f'the services ran different tags before ({ran}): put them back by hand')} >&2; exit 1"
    return (
        f"{_PICK}; set -e; umask 077; cd {q(project.directory)}; "
        f"{_unset_tag(project)}; $dc rm -s -f {services}"
    )
