"""Publishing to a repo server over SSH: snapshots, an atomic swap, rollback, lock, audit.

A publish, under the server's lock: read the current snapshot's manifest; build the next
snapshot as a hard-link copy of the current one (``snapshots/.new-<name>``); remove the
files that go; stream every new or changed file in one tar archive; check the upload
against the manifest (SHA-256 of what was sent, size of everything); rename the snapshot
into place and swap ``current`` with one ``rename``; drop snapshots beyond the newest N;
append to the audit log. Whatever fails before the swap leaves ``current`` untouched.

Files that leave the tree stay in the following snapshots for :data:`RETIRED_FOR` (hard
links, so they cost nothing): a client that read the previous metadata an instant before
the swap still finds what it names.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import IO

from orchestrator.commands import repo_server as remote
from orchestrator.config.inventory import SshPublish
from orchestrator.engine.interrupts import Interrupted
from orchestrator.engine.locks import LockDetails, LockWaiter, new_details
from orchestrator.errors import ArchiveError, PublishError
from orchestrator.publish.audit import Result, audit_line
from orchestrator.publish.info import Clock, PublishedTo, PublishInfo, Say, utc_now
from orchestrator.publish.ledger import FILE as LEDGER
from orchestrator.publish.ledger import (
    MAX_BYTES,
    DeployFailure,
    Failures,
    parse_ledger,
    with_failure,
)
from orchestrator.publish.ledger import TASK as LEDGER_TASK
from orchestrator.publish.local import LocalTree
from orchestrator.publish.manifest import Manifest, changes, next_manifest
from orchestrator.publish.ssh.session import RemoteShell, open_shell
from orchestrator.publish.ssh.snapshots import rollback_target, snapshot_name, to_prune
from orchestrator.publish.target import page_path
from orchestrator.remote.archive import ArchiveLimits, extract
from orchestrator.remote.fleet import HostAccess

RETIRED_FOR = timedelta(hours=1)
# What a page publish holds the lock as, so that a waiting publisher knows.
PAGE_TASK = "env.page"


@dataclass(frozen=True)
class SshTarget:
    """A repo server from the inventory and how to reach it (a :class:`PublishTarget`)."""

    config: SshPublish
    access: HostAccess
    clock: Clock = utc_now

    @property
    def name(self) -> str:
        """The inventory's name of the server."""
        return self.config.name

    @property
    def where(self) -> str:
        """The server in words, for messages."""
        config = self.config
        return f"repo server {config.name} ({config.user}@{config.host}:{config.path})"

    @property
    def url(self) -> str:
        """The URL that serves ``current``."""
        return self.config.url.rstrip("/")

    def shell(self) -> AbstractContextManager[RemoteShell]:
        """A new SSH connection to the server, its host key pinned."""
        return open_shell(self.access, self.where)

    def quick_shell(self) -> AbstractContextManager[RemoteShell]:
        """A new connection that gets seconds only: what is said after a signal."""
        return open_shell(self.access, self.where, quick=True)

    @contextmanager
    def server(self, *, quick: bool = False) -> Iterator[RepoServer]:
        """The server's web root, over a new connection (a ``quick`` one after a signal)."""
        with self.quick_shell() if quick else self.shell() as shell:
            yield RepoServer(shell, self.config.name, self.config.path)

    def served(self) -> Manifest:
        """The manifest of the snapshot being served, read without taking the lock."""
        with self.server() as server:
            return current_manifest(server, server.state())

    def publish(
        self, tree: LocalTree, release: PublishInfo, *, lock_wait: float, say: Say,
        allow_removals: bool = False,
    ) -> PublishedTo:  # fmt: skip
        """Publish ``tree`` as a new snapshot and swap ``current`` to it (see the module)."""
        details = new_details(release.run_id, release.tag, self.clock())
        with (
            self.server() as server,
            server.holding_lock(details, lock_wait, say, self.quick_shell),
        ):
            try:
                snapshot, uploaded = _publish_locked(
                    server, self, tree, release, self.clock(), say, allow_removals
                )
            except Exception as error:
                _audit_failure(server, self.clock(), release, str(error), say)
                raise
            except Interrupted as stop:
                # This connection may be stuck in the upload a signal cut short.
                _audit_interrupted(self, self.clock(), release, str(stop), say)
                raise
        return _published(self, tree, snapshot, uploaded)

    def fetch(self, tree: Path) -> Manifest:
        """The snapshot being served, unpacked into the new directory ``tree``; its manifest.

        It arrives as one tar stream of the snapshot, which is fixed once ``cd`` resolved
        ``current``, so files and manifest agree; the stream may hold no more than that
        manifest declares.
        """
        with self.server() as server:
            state = server.state()
            if state.current is None:
                raise PublishError(f"{self.where} publishes nothing yet: there is no tree to pull")
            limits = archive_limits(current_manifest(server, state))
            server.shell.stream(
                remote.archive_current(server.root),
                None,
                sink=lambda output: unpack_tree(output, tree, limits, self.where),
            )
        manifest = tree / remote.MANIFEST
        if not manifest.is_file():
            raise PublishError(
                f"{self.where}: the current snapshot has no manifest, so its files cannot be "
                "checked: publish it again from a complete tree"
            )
        served = Manifest.from_json(manifest.read_bytes(), f"{self.where}: manifest")
        manifest.unlink()
        return served

    def publish_page(self, page: bytes, *, run_id: str, lock_wait: float, say: Say) -> str:
        """Place the page in the snapshot being served, under the lock (see the protocol)."""
        path = page_path(self.config, self.where)
        with self._page_lock(run_id, lock_wait, say) as (server, current):
            if current is None:
                raise PublishError(
                    f"{self.where} publishes nothing yet: release first, then publish the "
                    "environments page beside the repositories"
                )
            command = remote.place_page(server.root, current, path, page)
            server.shell.run(command, stdin=page, small=True)
            server.audit(self.clock(), _page_info(run_id), current, "published", f"page {path}")
        return f"{self.url}/{path}"

    def unpublish_page(self, *, run_id: str, lock_wait: float, say: Say) -> str:
        """Remove the page from every snapshot, under the lock (see the protocol)."""
        path = page_path(self.config, self.where)
        with self._page_lock(run_id, lock_wait, say) as (server, current):
            server.shell.run(remote.remove_page(server.root, path))
            server.audit(
                self.clock(), _page_info(run_id), current or "-", "removed", f"page {path}"
            )
        return f"{self.url}/{path}"

    def deploy_failures(self) -> Failures:
        """The deploy ledger beside the snapshots, read without the lock (see the protocol)."""
        with self.server() as server:
            return server.ledger()

    def record_deploy_failure(
        self, environment: str, failure: DeployFailure, *, lock_wait: float, say: Say
    ) -> Failures:
        """Rewrite the ledger with ``failure`` under the lock, renamed into place."""
        with self._locked(failure.run_id, LEDGER_TASK, lock_wait, say) as server:
            ledger, data = with_failure(server.ledger(), environment, failure, self.where)
            server.shell.run(remote.write_ledger(server.root, LEDGER, data), stdin=data, small=True)
        return ledger

    @contextmanager
    def _page_lock(
        self, run_id: str, lock_wait: float, say: Say
    ) -> Iterator[tuple[RepoServer, str | None]]:
        with self._locked(run_id, PAGE_TASK, lock_wait, say) as server:
            yield server, server.state().current

    @contextmanager
    def _locked(self, run_id: str, task: str, lock_wait: float, say: Say) -> Iterator[RepoServer]:
        """The server, its publish lock held as ``task`` of ``run_id``."""
        details = new_details(run_id, task, self.clock())
        with (
            self.server() as server,
            server.holding_lock(details, lock_wait, say, self.quick_shell),
        ):
            yield server

    def unlock(self, *, force: bool) -> str | None:
        """The lock holder's details (None if unlocked); with ``force`` the lock is removed."""
        with self.shell() as shell:
            root = self.config.path
            command = remote.force_unlock(root) if force else remote.read_lock(root)
            result = shell.run(command, check=False)
        if force:
            return result.stdout or None
        return result.stdout if result.status == 0 else None


def archive_limits(manifest: Manifest) -> ArchiveLimits:
    """What the archive of a snapshot with ``manifest`` may hold.

    That is its files (retired ones too), the manifest itself and the directories they
    sit in, so a server cannot fill the disk through a pull.
    """
    stored = manifest.stored()
    directories = {str(parent) for path in stored for parent in PurePosixPath(path).parents}
    # A publish between reading the manifest and the archive may add files; then the
    # pull fails its check and is run again, so the slack needs only cover the manifest.
    size = sum(info.size for info in stored.values()) + len(manifest.to_json()) * 2 + (1 << 20)
    return ArchiveLimits(
        packed_bytes=size, unpacked_bytes=size, files=len(stored) + len(directories) + 16
    )


def unpack_tree(stream: IO[bytes], tree: Path, limits: ArchiveLimits, where: str) -> None:
    """Write the tree files of a snapshot archive (read as it streams) into the new ``tree``.

    By-hash copies arrive as hard links to their index and stay links; files outside the
    tree's directories are skipped; anything unsafe refuses the whole archive.
    """
    try:
        extract(stream, tree, limits, compressed=False, hard_links=True, wanted=remote.in_tree)
    except ArchiveError as error:
        raise PublishError(
            f"{where}: the tree archive was refused ({error}); if a publish ran meanwhile, "
            "run invoke repo.pull again"
        ) from None


class RepoServer:
    """The web root of one repo server, through a remote shell."""

    def __init__(self, shell: RemoteShell, name: str, root: str) -> None:
        self.shell = shell
        self.name = name
        self.root = root

    def state(self) -> remote.ServerState:
        """The snapshots, the current one and its manifest."""
        result = self.shell.run(remote.read_state(self.root), check=False)
        if result.status == remote.NOT_A_LINK:
            raise PublishError(
                f"{self.shell.where}: {self.root}/{remote.CURRENT} is not a symlink; "
                "move it away so that publishing can manage it"
            )
        if result.status != 0:
            raise PublishError(f"{self.shell.where}: cannot read the web root: {result.stderr}")
        return remote.parse_state(result.stdout, self.root)

    def ledger(self) -> Failures:
        """The deploy ledger beside the snapshots; empty when there is none yet."""
        result = self.shell.run(remote.read_ledger(self.root, LEDGER, MAX_BYTES), check=False)
        if result.status == remote.NO_LEDGER:
            return {}
        if result.status != 0:
            raise PublishError(
                f"{self.shell.where}: cannot read the deploy ledger {LEDGER}: "
                f"{result.stderr.strip()[:200]}"
            )
        return parse_ledger(result.stdout.encode("utf-8"), self.shell.where)

    def _attempt(self, details: LockDetails) -> str | None:
        result = self.shell.run(remote.take_lock(self.root, details.render()), check=False)
        if result.status == 0:
            return None
        if result.status == remote.HELD:
            return result.stdout
        raise PublishError(f"{self.shell.where}: cannot take the lock: {result.stderr.strip()}")

    def _break(self, holder: LockDetails) -> None:
        self.shell.run(remote.release_lock(self.root, holder.token), check=False)

    @contextmanager
    def holding_lock(
        self,
        details: LockDetails,
        wait: float,
        say: Say,
        reconnect: Callable[[], AbstractContextManager[RemoteShell]] | None = None,
    ) -> Iterator[None]:
        """Hold the server's lock; released on every way out.

        A release that fails is tried once more over a new connection (``reconnect``);
        after a signal, only over the new one, since this one may be stuck in an upload
        the signal cut short. Only if that fails too does the lock stay, with the command
        that breaks it.
        """
        force = f"invoke repo.unlock --force --target {self.name}"
        LockWaiter(
            self.shell.where, force, lambda: self._attempt(details), self._break, say
        ).acquire(wait)
        interrupted = False
        try:
            yield
        except Interrupted:
            interrupted = True
            raise
        finally:
            self._release(details, say, force, reconnect, interrupted)

    def _release(
        self,
        details: LockDetails,
        say: Say,
        force: str,
        reconnect: Callable[[], AbstractContextManager[RemoteShell]] | None,
        interrupted: bool = False,
    ) -> None:
        command = remote.release_lock(self.root, details.token)
        problem = "interrupted"
        if not interrupted:
            try:
                self.shell.run(command, check=False)
                return
            except Exception as error:  # a broken connection fails in any of paramiko's ways
                problem = str(error) or error.__class__.__name__
        if reconnect is not None:
            try:
                with reconnect() as shell:
                    shell.run(command, check=False)
                return
            except Exception as error:
                problem = str(error) or error.__class__.__name__
        say(f"{self.shell.where}: could not release the lock ({problem}); it stays: {force}")

    def audit(
        self, now: datetime, release: PublishInfo, snapshot: str, result: Result, detail: str
    ) -> None:
        """Append a line to the audit log."""
        line = audit_line(
            now,
            tag=release.tag,
            version=release.version,
            snapshot=snapshot,
            run_id=release.run_id,
            result=result,
            detail=detail,
        )
        self.shell.run(remote.append_audit(self.root, line))


def _write_tar(stream: IO[bytes], tree: LocalTree, paths: list[str], manifest: bytes) -> None:
    with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        for path in paths:
            source = tree.path(path)
            info = tarfile.TarInfo(path)
            stat = source.stat()
            info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o644
            with source.open("rb") as handle:
                archive.addfile(info, handle)
        info = tarfile.TarInfo(remote.MANIFEST)
        info.size, info.mtime, info.mode = len(manifest), int(time.time()), 0o644
        archive.addfile(info, io.BytesIO(manifest))


def _check_lines(tree: LocalTree, paths: list[str], manifest: bytes) -> bytes:
    lines = [f"{tree.files[path].sha256}  {path}\n" for path in paths]
    lines.append(f"{hashlib.sha256(manifest).hexdigest()}  {remote.MANIFEST}\n")
    return "".join(lines).encode("utf-8")


def _verify(server: RepoServer, name: str, checks: bytes, expected: dict[str, int]) -> None:
    result = server.shell.run(remote.verify_snapshot(server.root, name), stdin=checks, check=False)
    if result.status != 0:
        failed = (result.stdout + result.stderr).strip().splitlines()[:5]
        raise PublishError(
            f"{server.shell.where}: the upload does not match the manifest: {' | '.join(failed)}"
        )
    listing = result.stdout.split(f"{remote.MARK}\n", 1)[-1]
    problems = remote.listing_problems(expected, listing)
    if problems:
        raise PublishError(
            f"{server.shell.where}: snapshot {name} does not match the manifest "
            f"({len(problems)} problems): {'; '.join(problems[:5])}"
        )


def _page_info(run_id: str) -> PublishInfo:
    """What the lock and the audit log say of a page publish: its task, no version."""
    return PublishInfo(run_id=run_id, tag=PAGE_TASK, version="")


def _published(target: SshTarget, tree: LocalTree, snapshot: str, uploaded: int) -> PublishedTo:
    url = target.config.url.rstrip("/")
    return PublishedTo(
        name=target.config.name,
        url=url,
        key_url=f"{url}/{tree.key_file()}",
        snapshot=snapshot,
        uploaded=uploaded,
        unchanged=uploaded == 0,
    )


def current_manifest(server: RepoServer, state: remote.ServerState) -> Manifest:
    """The manifest of the snapshot being served; empty if there is none."""
    if state.current is None or state.manifest is None:
        return Manifest()
    return Manifest.from_json(
        state.manifest.encode("utf-8"), f"{server.shell.where}: {state.current}"
    )


def _publish_locked(
    server: RepoServer,
    target: SshTarget,
    tree: LocalTree,
    release: PublishInfo,
    now: datetime,
    say: Say,
    allow_removals: bool,
) -> tuple[str, int]:
    """Publish under the lock; returns the current snapshot and the number of files sent."""
    state = server.state()
    previous = current_manifest(server, state)
    if not allow_removals:
        tree.check_keeps(previous, target.where)
    following = next_manifest(previous, tree.files, now, now - RETIRED_FOR)
    if state.current is not None and following.files == previous.files:
        server.audit(now, release, state.current, "published", "unchanged")
        return state.current, 0
    # Without a manifest the current snapshot's content is unknown: start from nothing.
    base = state.current if previous.files else None
    name = snapshot_name(now, release.version, state.snapshots)
    todo = changes(previous, following)
    say(
        f"{target.where}: snapshot {name}: {len(todo.upload)} file(s) to upload, "
        f"{len(todo.remove)} to remove"
    )
    manifest = following.to_json()
    removals = "".join(f"{path}\0" for path in todo.remove).encode("utf-8")
    server.shell.run(remote.prepare_snapshot(server.root, base, name), stdin=removals)
    server.shell.stream(
        remote.extract(server.root, name),
        lambda stream: _write_tar(stream, tree, todo.upload, manifest),
    )
    expected = {path: info.size for path, info in following.stored().items()}
    expected[remote.MANIFEST] = len(manifest)
    _verify(server, name, _check_lines(tree, todo.upload, manifest), expected)
    server.shell.run(remote.activate(server.root, name))
    old = to_prune([*state.snapshots, name], name, target.config.snapshots_keep)
    if old:
        server.shell.run(remote.remove_snapshots(server.root, old))
    detail = f"{len(todo.upload)} uploaded, {len(todo.remove)} removed"
    server.audit(now, release, name, "published", detail)
    return name, len(todo.upload)


def _audit_failure(
    server: RepoServer, now: datetime, release: PublishInfo, error: str, say: Say
) -> None:
    try:
        server.audit(now, release, "-", "failed", error)
    except PublishError as audit_error:
        say(f"could not write the audit log: {audit_error}")


def _audit_interrupted(
    target: SshTarget, now: datetime, release: PublishInfo, signal: str, say: Say
) -> None:
    try:
        with target.server(quick=True) as server:
            server.audit(now, release, "-", "interrupted", signal)
    except Exception as error:  # the server may be what stalled: say so, and go on
        say(f"could not write the audit log: {error}")


def list_snapshots(target: SshTarget) -> remote.ServerState:
    """The server's snapshots and which one is current."""
    with target.server() as server:
        return server.state()


def rollback_ssh(
    target: SshTarget,
    *,
    to: str | None,
    run_id: str,
    lock_wait: float,
    say: Say,
    clock: Clock = utc_now,
) -> tuple[str | None, str]:
    """Point ``current`` back at ``to`` (default: the snapshot before the current one).

    Returns the previous and the new current snapshot.
    """
    details = new_details(run_id, "", clock())
    with (
        target.server() as server,
        server.holding_lock(details, lock_wait, say, target.quick_shell),
    ):
        state = server.state()
        name = rollback_target(state.snapshots, state.current, to)
        server.shell.run(remote.switch(server.root, name, target.config.environments_page))
        version = name.split("-", 1)[1]
        release = PublishInfo(run_id=run_id, tag="", version=version)
        server.audit(clock(), release, name, "rolled back", f"from {state.current}")
    return state.current, name
