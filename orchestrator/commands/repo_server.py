r"""Shell commands run on the repo server, built as strings; pure.

The server needs only POSIX sh and GNU coreutils, findutils and tar. Under the web root::

    snapshots/<name>/          one published tree each, unchanged files hard-linked
    snapshots/.new-<name>/     a snapshot being built (removed by the next publish)
    current -> snapshots/<name>    what the web server serves
    .lock/details              the publish lock (see :mod:`orchestrator.engine.locks`)
    audit.log                  one line per publish, rollback or failure
    deploys.json               the deploy ledger (see :mod:`orchestrator.publish.ledger`)

Every path is quoted with :func:`shlex.quote`; lists of paths travel on standard input,
NUL-separated, never on the command line.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from orchestrator.commands import locks as lockcommands
from orchestrator.config.schema import PUBLISHED
from orchestrator.errors import PublishError

SNAPSHOTS = "snapshots"
CURRENT = "current"
LOCK = ".lock"
MANIFEST = ".manifest.json"
STAGING_PREFIX = ".new-"
PAGE_UPLOAD = ".page-upload"
LEDGER_UPLOAD = ".deploys-upload"
MARK = "--8<--"
HELD = lockcommands.HELD
# Exit status of the state command when `current` is not a symlink.
NOT_A_LINK = 4
# Exit status of the ledger's read when there is no ledger yet.
NO_LEDGER = 5
# The append-only log of every publish, rollback and failure, beside the snapshots.
AUDIT_LOG = "audit.log"

q = shlex.quote


def _path(root: str, *parts: str) -> str:
    return q(str(PurePosixPath(root, *parts)))


def staging_name(name: str) -> str:
    """The directory a snapshot is built in before it is finished."""
    return f"{STAGING_PREFIX}{name}"


def take_lock(root: str, details: str) -> str:
    """Create the web root if needed and take the lock, or print the holder and exit HELD."""
    return f"mkdir -p {_path(root, SNAPSHOTS)} && " + lockcommands.take(_lock(root), details)


def release_lock(root: str, token: str) -> str:
    """Remove the lock only if it is still the one with ``token``."""
    return lockcommands.release(_lock(root), token)


def read_lock(root: str) -> str:
    """Print the lock's details file (nothing, status 1, when there is no lock)."""
    return lockcommands.read(_lock(root))


def force_unlock(root: str) -> str:
    """Print the lock's details, if any, and remove the lock whoever holds it."""
    return lockcommands.force(_lock(root))


def _lock(root: str) -> str:
    return str(PurePosixPath(root, LOCK))


def read_state(root: str) -> str:
    """Print where ``current`` points, the snapshot names and the current manifest."""
    return (
        f"cd {q(root)} 2>/dev/null || exit 0; "
        f"if [ -e {CURRENT} ] && [ ! -L {CURRENT} ]; then exit {NOT_A_LINK}; fi; "
        f"readlink {CURRENT}; echo {q(MARK)}; ls -1A {SNAPSHOTS} 2>/dev/null; echo {q(MARK)}; "
        f"cat {CURRENT}/{MANIFEST} 2>/dev/null; true"
    )


def archive_current(root: str) -> str:
    """Write the tree being served, its manifest included, to stdout as a tar archive.

    Only the tree: a page beside it is the server's own, not the tree's to pull.
    """
    # The snapshot is fixed once cd resolves the link, so files and manifest always agree.
    names = " ".join(q(name) for name in (*PUBLISHED, MANIFEST))
    return (
        f"cd {_path(root, CURRENT)}/ && set -- && "
        f'for name in {names}; do [ -e "$name" ] && set -- "$@" "$name"; done; '
        'tar -cf - -- "$@"'
    )


@dataclass(frozen=True)
class ServerState:
    """The snapshots on the server, the current one, and its manifest text."""

    current: str | None = None
    snapshots: list[str] = field(default_factory=list)
    manifest: str | None = None


def parse_state(output: str, root: str) -> ServerState:
    """Parse the output of :func:`read_state`."""
    if not output.strip():
        return ServerState()
    sections = output.split(f"{MARK}\n", 2)
    if len(sections) != 3:
        raise PublishError(f"{root}: unexpected answer from the server: {output[:200]!r}")
    link, listing, manifest = sections
    target = link.strip()
    current: str | None = None
    if target:
        if not target.startswith(f"{SNAPSHOTS}/") or "/" in target[len(SNAPSHOTS) + 1 :]:
            raise PublishError(
                f"{root}/{CURRENT} points at {target}, not at a snapshot: point it at "
                f"{SNAPSHOTS}/<name> or move it away"
            )
        current = target[len(SNAPSHOTS) + 1 :]
    return ServerState(current, listing.split(), manifest or None)


def prepare_snapshot(root: str, base: str | None, name: str) -> str:
    """Start snapshot ``name`` as a hard-link copy of ``base``; remove the paths on stdin.

    Leftovers of killed publishes go first. The copy shares every file with ``base``, so
    nothing here may write into a file: removals unlink, and uploads unlink first (tar -U).
    """
    staging = staging_name(name)
    copy = f"cp -al {q(base)} {q(staging)}" if base else f"mkdir {q(staging)}"
    return " && ".join(
        [
            f"cd {_path(root, SNAPSHOTS)}",
            f"rm -rf {STAGING_PREFIX}*",
            copy,
            f"cd {q(staging)}",
            f"rm -f {MANIFEST}",
            "xargs -0 -r rm -f --",
            "find . -mindepth 1 -type d -empty -delete",
        ]
    )


def extract(root: str, name: str) -> str:
    """Unpack the tar stream on stdin into the snapshot being built."""
    staging = _path(root, SNAPSHOTS, staging_name(name))
    return f"tar -x -U --no-same-owner -f - -C {staging}"


def verify_snapshot(root: str, name: str) -> str:
    """Check the sha256sum lines on stdin, then list every file with its size."""
    staging = _path(root, SNAPSHOTS, staging_name(name))
    return (
        f"cd {staging} && sha256sum --quiet --strict -c - && echo {q(MARK)} && "
        "find . -type f -printf '%s %P\\n'"
    )


def activate(root: str, name: str) -> str:
    """Finish snapshot ``name`` and point ``current`` at it with one rename."""
    target = q(f"{SNAPSHOTS}/{name}")
    return (
        f"cd {q(root)} && mv -T {q(f'{SNAPSHOTS}/{staging_name(name)}')} {target} && "
        f"ln -sfn {target} .{CURRENT}.new && mv -Tf .{CURRENT}.new {CURRENT}"
    )


def switch(root: str, name: str, carried: str | None = None) -> str:
    """Point ``current`` at the existing snapshot ``name`` with one rename.

    The file at ``carried`` (the environments page) comes along from the snapshot served
    until now, as a hard link: a page says what runs where now, whichever tree is served.
    """
    target = q(f"{SNAPSHOTS}/{name}")
    carry = ""
    if carried is not None:
        source, destination = q(f"{CURRENT}/{carried}"), q(f"{SNAPSHOTS}/{name}/{carried}")
        parent = q(str(PurePosixPath(SNAPSHOTS, name, carried).parent))
        carry = (
            f"if [ -f {source} ]; then mkdir -p {parent} && ln -f {source} {destination}; fi && "
        )
    return (
        f"cd {q(root)} && test -d {target} && {carry}"
        f"ln -sfn {target} .{CURRENT}.new && mv -Tf .{CURRENT}.new {CURRENT}"
    )


def place_file(root: str, upload: str, destination: str, data: bytes, mode: int) -> str:
    """Put ``data`` (sent on stdin) at ``destination`` under ``root`` with one rename.

    It is written to ``upload`` beside the snapshots first and renamed only once its size
    and SHA-256 are the data's: a client that went away mid-upload leaves the remote
    ``head`` an early end of input, not an error, and half a file must never be read. The
    rename means no file another snapshot shares is written into.
    """
    digest = hashlib.sha256(data).hexdigest()
    target = PurePosixPath(destination)
    return (
        f"cd {q(root)} && rm -f {upload} && head -c {len(data)} > {upload} && "
        f'[ "$(wc -c < {upload})" -eq {len(data)} ] && '
        f"echo '{digest}  {upload}' | sha256sum --quiet --strict -c - && "
        f"chmod {mode:04o} {upload} && mkdir -p {q(str(target.parent))} && "
        f"mv -Tf {upload} {q(str(target))}"
    )


def place_page(root: str, snapshot: str, path: str, page: bytes) -> str:
    """Put ``page`` (sent on stdin) at ``path`` in ``snapshot``, for the web server to read."""
    destination = str(PurePosixPath(SNAPSHOTS, snapshot, path))
    return place_file(root, PAGE_UPLOAD, destination, page, 0o644)


def write_ledger(root: str, name: str, ledger: bytes) -> str:
    """Replace the deploy ledger ``name`` beside the snapshots with ``ledger`` (on stdin)."""
    # Not the web server's to read: it serves `current` only, and the file is the tool's.
    return place_file(root, LEDGER_UPLOAD, name, ledger, 0o600)


def read_ledger(root: str, name: str, limit: int) -> str:
    """Print the deploy ledger ``name``, at most one byte more than its ``limit``.

    Exit NO_LEDGER when there is none (nor a web root yet).
    """
    return (
        f"cd {q(root)} 2>/dev/null && [ -e {q(name)} ] || exit {NO_LEDGER}; "
        f"head -c {limit + 1} {q(name)}"
    )


def remove_page(root: str, path: str) -> str:
    """Remove the page at ``path`` from every snapshot, so no rollback serves it again."""
    return (
        f'cd {_path(root, SNAPSHOTS)} && for snapshot in */; do rm -f -- "$snapshot"{q(path)}; done'
    )


def in_tree(path: str) -> bool:
    """Whether a path in a snapshot belongs to the published tree (or is its manifest).

    Anything else was put beside the tree (the environments page) and is carried from
    snapshot to snapshot, never checked against the tree's manifest nor pulled.
    """
    return path == MANIFEST or path.split("/", 1)[0] in PUBLISHED


def remove_snapshots(root: str, names: list[str]) -> str:
    """Delete old snapshots."""
    return f"cd {_path(root, SNAPSHOTS)} && rm -rf -- {' '.join(q(name) for name in names)}"


def append_audit(root: str, line: str) -> str:
    """Append one line to the audit log (O_APPEND: concurrent lines never interleave)."""
    return f"printf '%s\\n' {q(line)} >> {_path(root, AUDIT_LOG)}"


def listing_problems(expected: dict[str, int], listing: str) -> list[str]:
    """Differences between the sizes a snapshot's tree should have and ``find``'s listing."""
    found: dict[str, int] = {}
    for line in listing.splitlines():
        size, _, path = line.partition(" ")
        if path and in_tree(path):
            found[path] = int(size)
    problems = [f"missing {path}" for path in sorted(set(expected) - set(found))]
    problems += [f"unexpected {path}" for path in sorted(set(found) - set(expected))]
    problems += [
        f"{path} has {found[path]} bytes, expected {size}"
        for path, size in sorted(expected.items())
        if path in found and found[path] != size
    ]
    return problems
