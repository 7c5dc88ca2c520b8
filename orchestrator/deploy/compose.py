"""What a ``kind: compose`` host's inspection says: each service's release, state and image.

:func:`orchestrator.commands.compose.inspect` prints, per service with a container,
``SERVICE IMAGE IMAGE-ID STATE``, then the records; :func:`parse_state` reads it into the
host's state. A tag names a release only if it is a semver version.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.commands.compose import RUNNING
from orchestrator.deploy.hoststate import HostState, inspection_sections
from orchestrator.deploy.records import parse_records
from orchestrator.images.names import TAG
from orchestrator.semver import is_semver


def release_of_tag(tag: str) -> str | None:
    """The release a tag names: itself if it is a semver version (never ``latest``, ``1.2``)."""
    return tag if is_semver(tag) else None


def parse_state(host: str, output: str, expected: Mapping[str, str]) -> HostState:
    """Parse what :func:`inspect` printed; ``expected`` is each service's ``REGISTRY/REPOSITORY``.

    A service whose container runs another image than its own (or one named by digest)
    has no version: it is not the release, whatever its tag says.
    """
    container_part, _, record_part = inspection_sections(host, output)
    tags: dict[str, str] = {}
    states: dict[str, str] = {}
    digests: dict[str, str] = {}
    wanted = set(expected)
    for line in container_part.splitlines():
        fields = line.split()
        if len(fields) != 4 or fields[0] not in wanted or fields[0] in states:
            continue
        service, image, image_id, state = fields
        repository, colon, tag = image.rpartition(":")
        states[service] = "active" if state == RUNNING else state[:40]
        if colon and repository == expected[service] and TAG.fullmatch(tag):
            tags[service] = tag
            digests[service] = image_id[:100]
    return HostState(
        host, tags, states, tuple(parse_records(record_part)), {},
        release_of=release_of_tag, digests=digests,
    )  # fmt: skip
