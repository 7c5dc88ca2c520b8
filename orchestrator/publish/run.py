"""Publishing a repository tree to an inventory's targets: what tasks and the pipeline call.

    targets = resolve_targets(inventory)            # or resolve_targets(inventory, "spaces")
    published = publish_tree(repo_dir, targets, release=PublishInfo(run_id, tag, version),
                             lock_wait=300.0)

Resolving a target checks its credentials and decides, once, which kind of
:class:`~orchestrator.publish.target.PublishTarget` it is. The sandbox's repo server
(``host_key: sandbox``) is wired in by the tasks before (``orchestrator.cli.wiring.publish``).
Targets are published one after the other, in inventory order; one failing does not stop
the others, and the error names every failed target. A publish that fails leaves what
clients of that target see unchanged. A target keeps every package it serves that the tree
lacks, unless the tree was pruned of it: each publish checks under its lock, and the
release pipeline asks up front (:func:`orchestrator.publish.pull.ready_tree`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from orchestrator.config.inventory import Inventory, PublishConfig, SshPublish
from orchestrator.config.schema import SANDBOX_HOST_KEY
from orchestrator.errors import PublishError, UsageError
from orchestrator.publish.info import PublishedTo, PublishInfo, Say
from orchestrator.publish.local import scan_tree
from orchestrator.publish.s3.target import s3_target
from orchestrator.publish.ssh.target import SshTarget
from orchestrator.publish.target import PublishTarget
from orchestrator.remote.fleet import HostAccess


def ssh_access(config: SshPublish) -> HostAccess:
    """How to reach a repo server, its host key pinned."""
    if config.host_key == SANDBOX_HOST_KEY:
        raise UsageError(
            f"publish {config.name!r}: host_key 'sandbox' names the sandbox's repo server, "
            "which needs cloud.sandbox"
        )
    if config.host_key is None:
        raise UsageError(
            f"publish {config.name!r} needs host_key, the server's public host key line "
            f"(ssh-keyscan -t ed25519 {config.host}), so that it is pinned"
        )
    return HostAccess(
        name=config.name,
        address=config.host,
        port=config.port,
        user=config.user,
        host_key=config.host_key,
        identity_file=str(config.identity_file) if config.identity_file else None,
    )


def resolve(config: PublishConfig) -> PublishTarget:
    """The publish target an inventory entry describes: a repo server or a bucket."""
    if isinstance(config, SshPublish):
        return SshTarget(config, ssh_access(config))
    return s3_target(config)


def select(configs: Sequence[PublishConfig], name: str | None) -> list[PublishConfig]:
    """All targets, or the one named; UsageError if there is none."""
    if not configs:
        raise UsageError("the inventory has no publish targets: add a 'publish' section")
    if name is None:
        return list(configs)
    chosen = [config for config in configs if config.name == name]
    if not chosen:
        names = ", ".join(config.name for config in configs)
        raise UsageError(f"no publish target named {name!r} (targets: {names})")
    return chosen


def resolve_targets(inventory: Inventory, name: str | None = None) -> list[PublishTarget]:
    """The inventory's publish targets (all, or the one named), resolved."""
    return [resolve(config) for config in select(inventory.publish, name)]


def publish_tree(
    repo_dir: Path,
    targets: Sequence[PublishTarget],
    *,
    release: PublishInfo,
    lock_wait: float,
    say: Say = print,
    allow_removals: bool = False,
) -> list[PublishedTo]:
    """Publish the tree at ``repo_dir`` to every target; PublishError naming the failures.

    Only the published part of the tree is sent (``deb/``, ``rpm/``, ``keys/``,
    ``index.html``). Waiting for a target's lock lasts at most ``lock_wait`` seconds. A
    target keeps every package the tree lacks unless the tree was pruned of it (that
    target fails instead), or ``allow_removals`` is set.
    """
    tree = scan_tree(repo_dir)
    done: list[PublishedTo] = []
    failures: list[str] = []
    for target in targets:
        try:
            done.append(
                target.publish(
                    tree, release, lock_wait=lock_wait, say=say, allow_removals=allow_removals
                )
            )
        except PublishError as error:
            failures.append(str(error))
    if failures:
        published = ", ".join(result.name for result in done) or "none"
        raise PublishError(f"publishing failed: {'; '.join(failures)} (published to: {published})")
    return done
