"""The ``repo`` tasks that act on publish targets: publish, pull, snapshots, rollback...

``repo.publish``, ``repo.pull``, ``repo.snapshots``, ``repo.rollback``, ``repo.unlock`` and
``repo.gc`` act on the inventory's publish targets (``--to``/``--target NAME`` picks one) and
join the ``repo`` collection beside ``repo.build``.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.tasks import Task, task

from orchestrator.cli.common import INVENTORY_HELP, load, now, number_flag, reports_errors
from orchestrator.cli.wiring.publish import with_publish_access
from orchestrator.engine.locks import parse_details
from orchestrator.engine.run_ids import new_run_id
from orchestrator.errors import UsageError
from orchestrator.publish.info import PublishInfo
from orchestrator.publish.pull import pull_tree
from orchestrator.publish.run import publish_tree, resolve, resolve_targets, select
from orchestrator.publish.s3.target import S3Target, collect_garbage
from orchestrator.publish.ssh.snapshots import by_age
from orchestrator.publish.ssh.target import SshTarget, list_snapshots, rollback_ssh
from orchestrator.publish.target import PublishTarget
from orchestrator.version import parse_tag

DEFAULT_LOCK_WAIT = "300"
MAX_LOCK_WAIT = 86400.0
LOCK_WAIT_HELP = "seconds to wait for another publisher's lock (default 300)"
TARGET_HELP = "only the publish target of this name (default: all)"


def say(line: str) -> None:
    """Print a progress line at once."""
    print(line, flush=True)


def _run_id() -> str:

    return new_run_id(now(), secrets.token_hex(3))


def release_info(tag: str, version: str | None) -> PublishInfo:
    """What a hand-made publish records: the tag's version unless ``version`` is given."""
    if version is None:
        version = parse_tag(tag).package_version if tag else "manual"
    return PublishInfo(run_id=_run_id(), tag=tag, version=version)


def _targets(c: Context, inventory: str | None, name: str | None) -> list[PublishTarget]:
    """The inventory's publish targets (or the one named), the sandbox's wired in."""
    return resolve_targets(with_publish_access(load(c, inventory)), name)


def _ssh_targets(c: Context, inventory: str | None, name: str | None) -> list[SshTarget]:

    # Snapshots and rollback are a repo server's own; a bucket has neither.
    targets = [t for t in _targets(c, inventory, name) if isinstance(t, SshTarget)]
    if not targets:
        raise UsageError("no repo server (kind: ssh) among the chosen publish targets")
    return targets


@task(
    help={
        "repo": "repository tree to publish (as made by invoke repo.build)",
        "to": TARGET_HELP,
        "tag": "the release tag, recorded in the lock and the audit log",
        "version": "names the snapshot (default: the tag's version, else 'manual')",
        "lock_wait": LOCK_WAIT_HELP,
        "allow_removals": "remove published packages the tree lacks though it was not pruned "
        "of them (by default that target is refused)",
        "inventory": INVENTORY_HELP,
    }
)
@reports_errors
def publish(
    c: Context,
    repo: str,
    to: str | None = None,
    tag: str = "",
    version: str | None = None,
    lock_wait: str = DEFAULT_LOCK_WAIT,
    allow_removals: bool = False,
    inventory: str | None = None,
) -> None:
    """Publish the tree at --repo to the inventory's publish targets, atomically."""
    wait = number_flag(lock_wait, "--lock-wait", maximum=MAX_LOCK_WAIT)
    release = release_info(tag, version)
    targets = _targets(c, inventory, to)
    published = publish_tree(
        Path(repo),
        targets,
        release=release,
        lock_wait=wait,
        say=say,
        allow_removals=allow_removals,
    )
    for result in published:
        where = f" snapshot {result.snapshot}" if result.snapshot else ""
        state = "unchanged" if result.unchanged else f"{result.uploaded} file(s) uploaded"
        print(f"published to {result.name}:{where} ({state}) {result.url}  key {result.key_url}")


@task(help={"target": TARGET_HELP, "inventory": INVENTORY_HELP})
@reports_errors
def snapshots(c: Context, target: str | None = None, inventory: str | None = None) -> None:
    """List the snapshots on each repo server; * marks the one being served."""
    for server in _ssh_targets(c, inventory, target):
        state = list_snapshots(server)
        print(f"{server.where}:")
        names = by_age(state.snapshots)
        for name in names:
            print(f"{'*' if name == state.current else ' '} {name}")
        if not names:
            print("  (no snapshots yet)")


@task(
    help={
        "to": "snapshot to serve (default: the one before the current one)",
        "target": TARGET_HELP,
        "lock_wait": LOCK_WAIT_HELP,
        "inventory": INVENTORY_HELP,
    }
)
@reports_errors
def rollback(
    c: Context,
    to: str | None = None,
    target: str | None = None,
    lock_wait: str = DEFAULT_LOCK_WAIT,
    inventory: str | None = None,
) -> None:
    """Serve an earlier snapshot again, swapping 'current' atomically."""
    wait = number_flag(lock_wait, "--lock-wait", maximum=MAX_LOCK_WAIT)
    for server in _ssh_targets(c, inventory, target):
        before, after = rollback_ssh(server, to=to, run_id=_run_id(), lock_wait=wait, say=say)
        print(f"{server.config.name}: now serving {after} (was {before})")


@task(
    help={
        "force": "remove the lock even though its holder may still run",
        "target": TARGET_HELP,
        "inventory": INVENTORY_HELP,
    }
)
@reports_errors
def unlock(
    c: Context, force: bool = False, target: str | None = None, inventory: str | None = None
) -> None:
    """Show who holds each target's publish lock; --force breaks a stale one."""
    locked = False
    for server in _targets(c, inventory, target):
        held = server.unlock(force=force)
        name = server.name
        if held is None:
            print(f"{name}: not locked")
            continue
        locked = True
        holder = parse_details(held)
        who = holder.describe() if holder else "a run (details unreadable)"
        print(f"{name}: {'removed the lock of' if force else 'locked by'} {who}")
    if locked and not force:
        print("pass --force to remove a lock whose publisher is no longer running")


@task(
    help={
        "target": TARGET_HELP,
        "lock_wait": LOCK_WAIT_HELP,
        "inventory": INVENTORY_HELP,
    }
)
@reports_errors
def gc(
    c: Context,
    target: str | None = None,
    lock_wait: str = DEFAULT_LOCK_WAIT,
    inventory: str | None = None,
) -> None:
    """Delete bucket objects retired longer than the target's grace period (gc_grace_hours)."""
    wait = number_flag(lock_wait, "--lock-wait", maximum=MAX_LOCK_WAIT)
    for server in _targets(c, inventory, target):
        # Garbage collection is a bucket's own; a repo server prunes at every publish.
        if not isinstance(server, S3Target):
            print(f"{server.name}: snapshots are pruned by every publish (snapshots_keep)")
            continue
        collected = collect_garbage(server, run_id=_run_id(), lock_wait=wait, say=say)
        print(
            f"{server.name}: deleted {len(collected.deleted)} object(s); "
            f"{collected.waiting} retired object(s) still within the grace period"
        )


@task(
    help={
        "repo": "where to put the tree (missing or empty; as repo.build and releases use it)",
        "target": "the publish target to copy from (default: the first)",
        "inventory": INVENTORY_HELP,
    }
)
@reports_errors
def pull(c: Context, repo: str, target: str | None = None, inventory: str | None = None) -> None:
    """Copy the tree a publish target serves to --repo, every file checked (a fresh machine)."""
    loaded = with_publish_access(load(c, inventory))
    source = resolve(select(loaded.publish, target)[0])
    files = pull_tree(source, Path(repo))
    print(f"pulled {files} file(s) from {source.name} into {repo}")


tasks: tuple[Task[Any], ...] = (publish, snapshots, rollback, unlock, gc, pull)
