r"""The shell commands a deploy runs on a host, built as strings; pure.

A host needs POSIX sh, dpkg, apt (2.4+, for deb822 sources) and systemd. Everything the
tool keeps on a host is under ``/var/lib/<tool>/``::

    deploys.jsonl          one JSON record per deploy, rollback or failure (the audit)
    locks/<environment>/   an environment's deploy lock, on its first host

Every value is quoted with :func:`shlex.quote`; commands are tested exactly.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from orchestrator.commands import locks as lockcommands
from orchestrator.config.inventory import Inventory

# The longest line taken as a record: the tool writes a few kilobytes at most.
RECORD_LINE_MAX = 64 << 10
MARK = "--8<--"
q = shlex.quote
APT_ENV = "DEBIAN_FRONTEND=noninteractive"
# The records a host reads back: enough for history and promotion, never unbounded.
RECORDS_READ = 200
# Bytes read from the end of the records file at most: room for the last records behind a
# few megabytes of lines the tool did not write, and a bound on a file of any size (one
# with no newline at all included).
RECORDS_WINDOW = 8 << 20
# Bytes of records an inspection prints at most: far above 200 records of the tool's, and
# well inside what a host's answer may be (orchestrator.deploy.hosts.MAX_OUTPUT).
RECORDS_SENT = 512 << 10
# Seconds apt waits for another dpkg to finish.
DPKG_LOCK_WAIT = 120


def host_files(inventory: Inventory) -> HostFiles:
    """Where the tool keeps its files on the servers ``inventory`` deploys to."""
    return HostFiles(tool=inventory.cloud.tag_prefix, project=inventory.project.name)


@dataclass(frozen=True)
class HostFiles:
    """Where the tool's files live on a host of ``tool`` for ``project``."""

    tool: str
    project: str

    @property
    def state(self) -> str:
        """The tool's directory on the host."""
        return f"/var/lib/{self.tool}"

    @property
    def records(self) -> str:
        """The deploy records."""
        return f"{self.state}/deploys.jsonl"

    def lock(self, environment: str) -> str:
        """The deploy lock of ``environment``."""
        return str(PurePosixPath(self.state, "locks", environment))

    @property
    def keyring(self) -> str:
        """The project key apt trusts for this source only (``Signed-By``)."""
        return f"/etc/apt/keyrings/{self.project}-{self.tool}.asc"

    @property
    def sources(self) -> str:
        """The deb822 source of the project's repository."""
        return f"/etc/apt/sources.list.d/{self.project}-{self.tool}.sources"


def sources_file(url: str, channels: Sequence[str], keyring: str) -> str:
    """The deb822 ``.sources`` file naming the repository's ``deb`` tree and its key."""
    return (
        "Types: deb\n"
        f"URIs: {url.rstrip('/')}/deb\n"
        f"Suites: {' '.join(channels)}\n"
        "Components: main\n"
        f"Signed-By: {keyring}\n"
    )


def as_root(command: str) -> str:
    """``command`` run as root by a login that becomes root with sudo, never asking a password.

    One shell for the whole command, so its pipes, redirections and ``&&`` all run as root;
    ``-n`` makes sudo fail at once where it would prompt.
    """
    return f"sudo -n -- /bin/sh -c {q(command)}"


# What a login that becomes root must be allowed (a command that does nothing, as root).
ROOT_CHECK = as_root(":")
# What :func:`checked_as_root` says on stderr when sudo refuses.
ROOT_REFUSED = "relorch: sudo -n refused to run /bin/sh as root"


def checked_as_root(command: str) -> str:
    """``command`` as root, once sudo proved it lets the login do so without a password.

    Where sudo refuses, the command does not run: status 1, :data:`ROOT_REFUSED` on stderr
    after sudo's own words. Run as the login itself (the survey's first command).
    """
    return f"{ROOT_CHECK} || {{ echo {q(ROOT_REFUSED)} >&2; exit 1; }}; {as_root(command)}"


def sudoers_line(user: str) -> str:
    """The sudoers line that lets ``user`` run :func:`as_root` commands without a password."""
    return f"{user} ALL=(root) NOPASSWD: /bin/sh"


def sudoers_file(environment: str, users: Sequence[str]) -> str:
    """What ``/etc/sudoers.d/relorch`` holds on ``environment``'s hosts for these logins."""
    if not users:
        return f"# Every host of {environment} is reached as root: no sudoers lines are needed.\n"
    return (
        f"# /etc/sudoers.d/relorch on every host of {environment} (mode 0440; check it with\n"
        "# visudo -cf FILE). A deploy installs packages, restarts services and runs Docker,\n"
        "# which is root's work whatever the command: the tool asks for one root shell,\n"
        "# runs each command that needs root as `sudo -n /bin/sh -c COMMAND` (sudo logs\n"
        "# every one), and runs the health check's command as the user itself.\n"
        + "".join(f"{sudoers_line(user)}\n" for user in users)
    )


def read_records(path: str) -> str:
    """Print the last records of the file at ``path``, read and sent in bounded amounts.

    Only the file's last :data:`RECORDS_WINDOW` bytes are read (``tail -c`` seeks; ``tail
    -n`` would read a line of any length to its start); a line longer than a record ever is
    is skipped there, on the host, so that it hides none of the records before it. The
    first line of a window that starts inside a line is a piece of one: it is not a JSON
    object, and the parser skips it as it skips any line that is not a record.
    """
    return (
        f"tail -c {RECORDS_WINDOW} {q(path)} 2>/dev/null | "
        f"LC_ALL=C awk 'length($0) <= {RECORD_LINE_MAX}' | "
        f"tail -n {RECORDS_READ} | tail -c {RECORDS_SENT}"
    )


def inspect(files: HostFiles, packages: Sequence[str], units: Sequence[str]) -> str:
    """Print each package's status and version, each unit's state, then the last records."""
    queries = " ".join(q(p) for p in packages)
    states = " ".join(q(u) for u in units)
    unit_part = f"systemctl is-active {states} 2>/dev/null; " if units else ""
    return (
        f"dpkg-query -W -f '${{Package}} ${{db:Status-Abbrev}} ${{Version}}\\n' {queries} "
        f"2>/dev/null; echo {q(MARK)}; {unit_part}echo {q(MARK)}; "
        f"{read_records(files.records)}; true"
    )


def configure_source(files: HostFiles) -> str:
    """Write the key (armored, on standard input) and the source, read after a ``MARK`` line."""
    # One stdin carries both files: the key up to the mark, the source after it.
    return (
        "set -e; umask 022; mkdir -p /etc/apt/keyrings /etc/apt/sources.list.d; "
        f'tmp=$(mktemp -d); cat > "$tmp/all"; '
        f'sed -n \'/^{MARK}$/q;p\' "$tmp/all" > "$tmp/key"; '
        f'sed \'1,/^{MARK}$/d\' "$tmp/all" > "$tmp/sources"; '
        f'mv -f "$tmp/key" {q(files.keyring)}; mv -f "$tmp/sources" {q(files.sources)}; '
        f'chmod 644 {q(files.keyring)} {q(files.sources)}; rm -rf "$tmp"'
    )


def update_source(files: HostFiles) -> str:
    """``apt-get update`` of the project's source only (the others' lists stay as they are)."""
    # apt reads deb822 files only from a parts directory: one holding just this source.
    return (
        f'parts=$(mktemp -d) && ln -s {q(files.sources)} "$parts/" && '
        f"{APT_ENV} apt-get update -q -o DPkg::Lock::Timeout={DPKG_LOCK_WAIT} "
        "-o Dir::Etc::SourceList=/dev/null "
        '-o Dir::Etc::SourceParts="$parts" -o APT::Get::List-Cleanup=0; '
        'status=$?; rm -rf "$parts"; exit $status'
    )


def install(packages: Sequence[str], package_version: str) -> str:
    """Install exactly ``package_version`` of every package, downgrading if need be."""
    return install_versions(dict.fromkeys(packages, package_version))


def install_versions(versions: Mapping[str, str]) -> str:
    """Install each package at its version, downgrading if need be.

    apt waits for the dpkg lock (an unattended upgrade, a revert after a hang-up) rather
    than failing at once.
    """
    wanted = " ".join(q(f"{name}={version}") for name, version in versions.items())
    return (
        f"{APT_ENV} apt-get install -q -y --allow-downgrades --no-install-recommends "
        f"-o DPkg::Lock::Timeout={DPKG_LOCK_WAIT} -o Dpkg::Options::=--force-confold {wanted}"
    )


def restart(units: Sequence[str]) -> str:
    """Reload systemd, enable and restart the units (empty when there are none)."""
    if not units:
        return ""
    named = " ".join(q(u) for u in units)
    return f"systemctl daemon-reload && systemctl enable -q {named} && systemctl restart {named}"


def settle_dpkg() -> str:
    """Finish what an interrupted dpkg left half-configured, waiting while dpkg is busy."""
    return (
        "for attempt in 1 2 3 4 5 6 7 8 9 10; do "
        f"{APT_ENV} dpkg --force-confold --configure -a && exit 0; sleep 3; done; exit 1"
    )


def remove(packages: Sequence[str]) -> str:
    """Remove the packages (those a host did not have before the deploy)."""
    return "dpkg --remove " + " ".join(q(p) for p in packages)


def append_record(files: HostFiles, line: str) -> str:
    """Append one JSON record line to the host's deploy records.

    A file whose last line has no newline (a write cut short) gets one first, so the
    record is a line of its own, not the end of that one.
    """
    records = q(files.records)
    return (
        f'mkdir -p {q(files.state)} && {{ [ ! -s {records} ] || [ -z "$(tail -c 1 {records})" ] '
        f"|| echo; printf '%s\\n' {q(line)}; }} >> {records}"
    )


def take_lock(files: HostFiles, environment: str, details: str) -> str:
    """Take ``environment``'s deploy lock (see :func:`orchestrator.commands.locks.take`)."""
    lock = files.lock(environment)
    parent = q(str(PurePosixPath(lock).parent))
    return f"mkdir -p {parent} && " + lockcommands.take(lock, details)


def release_lock(files: HostFiles, environment: str, token: str) -> str:
    """Release ``environment``'s lock if it is still the one with ``token``."""
    return lockcommands.release(files.lock(environment), token)


def read_lock(files: HostFiles, environment: str) -> str:
    """Print ``environment``'s lock details (status 1 when it is free)."""
    return lockcommands.read(files.lock(environment))


def force_unlock(files: HostFiles, environment: str) -> str:
    """Print ``environment``'s lock details and remove it whoever holds it."""
    return lockcommands.force(files.lock(environment))
