r"""The shell commands a ``kind: compose`` deploy runs on a host, built as strings; pure.

A project runs one image or several (an environment's services), each in its own Compose
services, each tag in its own place; a deploy sets every tag at once and goes back as one.

A host needs POSIX sh, GNU coreutils, Docker and Compose: ``docker compose`` (v2) if it
answers, else ``docker-compose`` (v1), the one Debian packages. It pulls from the registry
with its own login (``docker login`` by its administrator, a read-only token): the
orchestrator's push credentials never reach a host.

Each tag is set where the project's compose file reads it: the ``VARIABLE=TAG`` line of the
project's ``.env`` (its other lines, mode and owner kept), or its services' entries in an
override file the tool owns (its first line says so) and Compose reads by itself. Neither is written through a
symbolic link, and each is replaced by a rename from a file ``mktemp`` made, never by
writing a name someone else could have planted. Before that, the file as it was and
which services had a container are saved under the tool's own directory on the host
(``/var/lib/<tool>/compose/<environment>/``, root's only), so that going back restores
them exactly; the record step removes the copy once the deploy has ended.

A deploy then runs ``pull SERVICE...``, checks that each tag pulled is the image the
registry served when the deploy chose it (a tag moved in between is refused), runs ``up
-d --no-deps SERVICE...`` and checks that every service's container runs its image.
Going back restores the file and runs ``up -d --no-deps`` again with the image still on
the host (pulling only if it is gone), or removes the containers of services that had
none.

The inspection prints, per service with a container (running or not), ``SERVICE IMAGE
IMAGE-ID STATE`` (``docker inspect``: the reference it was created from, the id of the
image it runs, the container's state), then the records; :mod:`orchestrator.deploy.compose`
reads it. Every value is quoted with :func:`shlex.quote`; commands are tested exactly.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.commands.deploy import MARK, HostFiles, read_records

q = shlex.quote
# Picks the host's Compose, or says there is none (status 3).
_PICK = (
    "if docker compose version >/dev/null 2>&1; then dc='docker compose'; "
    "elif command -v docker-compose >/dev/null 2>&1; then dc=docker-compose; "
    "else echo 'this host has neither docker compose nor docker-compose' >&2; exit 3; fi"
)
# The first line of an override file the deploy wrote; one without it is not the tool's.
# Docker's state of a running container, as `docker inspect` prints it.
RUNNING = "running"
OVERRIDE_HEADER = "# Written by the deploy: the image of each service it updates."
# Exit statuses of the commands, for the messages they print.
REFUSED, MOVED, NOT_RUNNING = 4, 5, 6
# Seconds a put or a revert waits for another one on the host to end.
LOCK_WAIT = 900


@dataclass(frozen=True)
class ImageSlot:
    """One image of a Compose project: as hosts pull it, the services running it, its tag's place.

    ``reference`` is ``REGISTRY/REPOSITORY``; ``tag_variable`` the ``.env`` variable of the
    tag (None: the tool's override file).
    """

    reference: str
    services: tuple[str, ...]
    tag_variable: str | None = None


@dataclass(frozen=True)
class ComposeTarget:
    """A Compose project on a host and the images a deploy sets in it."""

    directory: str
    slots: tuple[ImageSlot, ...]
    override_file: str | None = None

    @property
    def services(self) -> tuple[str, ...]:
        """Every Compose service a deploy updates, in order."""
        return tuple(s for slot in self.slots for s in slot.services)


@dataclass(frozen=True)
class Pull:
    """What a put sets in one slot: the tag, and the ids its image may have on a host."""

    slot: ImageSlot
    tag: str
    image_ids: tuple[str, ...]


def saved_directory(files: HostFiles, environment: str) -> str:
    """Where a deploy keeps what it changes on a host, to put it back."""
    return f"{files.state}/compose/{environment}"


def inspect(files: HostFiles, project: ComposeTarget) -> str:
    """Print each service's container (see the module docstring), then the last records."""
    services = " ".join(q(s) for s in project.services)
    template = q("{{.Config.Image}} {{.Image}} {{.State.Status}}")
    return (
        f"{_PICK}; if cd {q(project.directory)} 2>/dev/null; then "
        f"for service in {services}; do "
        'id=$($dc ps -a -q "$service" 2>/dev/null | head -n 1); '
        f'if [ -n "$id" ]; then printf \'%s \' "$service"; docker inspect --format {template} '
        '"$id" 2>/dev/null || echo; fi; done; fi; '
        f"echo {q(MARK)}; echo {q(MARK)}; {read_records(files.records)}; true"
    )


def file_of(project: ComposeTarget) -> str:
    """The file the tags are set in, in the project's directory."""
    return project.override_file or ".env"


def _start(project: ComposeTarget, saved: str) -> str:
    """Pick Compose, take the host's deploy lock, enter the project, refuse a symbolic link.

    The lock (``flock`` on a file beside ``$saved``) keeps a revert from racing the put it
    undoes when that put outlived its connection; a temporary file is removed on exit.
    """
    file = q(file_of(project))
    link = f"{file_of(project)} is a symbolic link: the deploy does not write through it"
    busy = f"another deploy step holds {saved}.lock"
    return (
        f"{_PICK}; set -e; umask 077; saved={q(saved)}; tmp=; "
        'trap \'[ -z "$tmp" ] || rm -f "$tmp"\' EXIT; mkdir -p "$(dirname "$saved")"; '
        f'exec 9> "$saved.lock"; flock -w {LOCK_WAIT} 9 || {{ echo {q(busy)} >&2; exit 1; }}; '
        f"cd {q(project.directory)}; "
        f"if [ -L {file} ]; then echo {q(link)} >&2; exit {REFUSED}; fi"
    )


def _override_text(pulls: Sequence[Pull]) -> str:
    lines = [OVERRIDE_HEADER, "services:"]
    for pull in pulls:
        image = json.dumps(f"{pull.slot.reference}:{pull.tag}")
        for service in pull.slot.services:
            # JSON strings are YAML strings: a service called "null" stays a name.
            lines += [f"  {json.dumps(service)}:", f"    image: {image}"]
    return "\n".join(lines) + "\n"


def _refuse_foreign_override(project: ComposeTarget) -> str:
    """Refuse an override file the deploy did not write (nothing is changed yet)."""
    if project.override_file is None:
        return ":"
    file = q(project.override_file)
    refusal = (
        f"{project.override_file} exists and the deploy did not write it: move its settings "
        "into the project's compose file, or name another override_file"
    )
    return (
        f'if [ -e {file} ] && [ "$(head -n 1 {file})" != {q(OVERRIDE_HEADER)} ]; then '
        f"echo {q(refusal)} >&2; exit {REFUSED}; fi"
    )


def _set_tags(project: ComposeTarget, pulls: Sequence[Pull]) -> str:
    file = q(file_of(project))
    new = "tmp=$(mktemp .relorch.XXXXXX)"
    if project.override_file is None:
        variables = "|".join(p.slot.tag_variable or "" for p in pulls)
        lines = " ".join(q(f"{p.slot.tag_variable}={p.tag}") for p in pulls)
        # Any earlier assignment of the variables goes, "export VAR = x" too; grep's status
        # 1 is "no other line", 2 a read error that must not empty the file.
        pattern = q(f"^[[:space:]]*(export[[:space:]]+)?({variables})[[:space:]]*=")
        return (
            f'{new}; if [ -e .env ]; then chmod --reference=.env "$tmp"; '
            f'chown --reference=.env "$tmp"; {{ grep -a -v -E {pattern} .env || [ $? -eq 1 ]; }} '
            f'> "$tmp"; fi; printf \'%s\\n\' {lines} >> "$tmp"; mv -f "$tmp" .env'
        )
    return (
        f"{new}; printf '%s' {q(_override_text(pulls))} > \"$tmp\"; "
        f'chmod 644 "$tmp"; mv -f "$tmp" {file}'
    )


def _save(project: ComposeTarget) -> str:
    """Keep the file as it is and which services have a container, as ``$saved``.

    It is made beside and renamed into place once whole: a revert finds all of it or
    nothing. A ``ps`` that fails fails the put here, before anything changed (an empty
    answer would make a revert remove containers that were there).
    """
    file = q(file_of(project))
    ran = "; ".join(f'$dc ps -a -q {q(s)} > "$saved.new"/{q(f"ran-{s}")}' for s in project.services)
    return (
        'rm -rf "$saved.new"; mkdir -m 700 "$saved.new"; '
        f'if [ -e {file} ]; then cp -p {file} "$saved.new"/file; else : > "$saved.new"/absent; fi; '
        f'{ran}; mv "$saved.new" "$saved"'
    )


def _is_one_of(value: str, accepted: tuple[str, ...]) -> str:
    """A test that ``value`` (shell) is one of ``accepted``."""
    return "{ " + " || ".join(f'[ "{value}" = {q(a)} ]' for a in accepted) + "; }"


def _pulled_check(pull: Pull) -> str:
    """Refuse (status MOVED) a tag pulled as another image than the one the deploy chose."""
    where = f"{pull.slot.reference}:{pull.tag}"
    moved = f"the registry gave {where} as another image than the one the deploy chose"
    got = f"got=$(docker image inspect --format {q('{{.Id}}')} {q(where)}) || got="
    return (
        f"{got}; {_is_one_of('$got', pull.image_ids)} || {{ echo {q(moved)} >&2; exit {MOVED}; }};"
    )


def _runs_check(pull: Pull) -> str:
    """Refuse (status NOT_RUNNING) a service of ``pull``'s slot whose container runs another image."""
    where = f"{pull.slot.reference}:{pull.tag}"
    running = tuple(f"{i} {RUNNING}" for i in pull.image_ids)
    # Each answer is read once into a variable, then compared with every accepted id.
    return " ".join(
        f'cid=$($dc ps -q {q(s)} | head -n 1); now=; [ -z "$cid" ] || '
        f'now=$(docker inspect --format {q("{{.Image}} {{.State.Status}}")} "$cid") || now=; '
        f"{_is_one_of('$now', running)} || "
        f"{{ echo {q(f'service {s} does not run {where} after up (does the compose file use the tag? did it exit?)')} >&2; exit {NOT_RUNNING}; }};"
        for s in pull.slot.services
    )


def put(project: ComposeTarget, files: HostFiles, environment: str, pulls: Sequence[Pull]) -> str:
    """Save what is there, set every tag, pull, check each image, replace the containers.

    Each pull's ``image_ids`` are the ids its image may have on a host: its config's
    digest (Docker's own image store), or the digest of what the tag names, its index or
    its manifest (the containerd image store).
    """
    services = " ".join(q(s) for s in project.services)
    pulled = " ".join(_pulled_check(pull) for pull in pulls)
    runs = " ".join(_runs_check(pull) for pull in pulls)
    return (
        # What an earlier deploy that never ended saved is not this deploy's "before".
        f'{_start(project, saved_directory(files, environment))}; rm -rf "$saved"; '
        f"{_refuse_foreign_override(project)}; {_save(project)}; "
        f"{_set_tags(project, pulls)}; $dc pull -q {services}; "
        f"{pulled} $dc up -d --no-deps {services}; {runs}"
    )


def revert(project: ComposeTarget, files: HostFiles, environment: str) -> str:
    """Put back the saved file, and the containers as they were (removed if there were none).

    Nothing saved means the put changed nothing (it saves first): there is nothing to do.
    """
    file = q(file_of(project))
    again = " ".join(
        f'if [ -s "$saved"/{q(f"ran-{s}")} ]; then if ! $dc up -d --no-deps {q(s)}; then '
        f"$dc pull -q {q(s)}; $dc up -d --no-deps {q(s)}; fi; "
        f"else $dc rm -s -f {q(s)}; fi;"
        for s in project.services
    )
    return (
        f"{_start(project, saved_directory(files, environment))}; "
        '[ -d "$saved" ] || { echo "nothing to put back: the deploy changed nothing here"; exit 0; }; '
        'if [ -e "$saved"/file ]; then tmp=$(mktemp .relorch.XXXXXX); cat "$saved"/file > "$tmp"; '
        'chmod --reference="$saved"/file "$tmp"; chown --reference="$saved"/file "$tmp"; '
        f'mv -f "$tmp" {file}; else rm -f {file}; fi; {again}'
    )


def forget(files: HostFiles, environment: str) -> str:
    """Remove what a deploy saved on the host, once it has ended."""
    saved = saved_directory(files, environment)
    return f"rm -rf {q(saved)} {q(f'{saved}.new')}"
