"""Publishing a repository tree to an inventory's targets: what tasks and the pipeline call.

    targets = resolve_targets(inventory)            # or resolve_targets(inventory, "spaces")
    published = publish_tree(repo_dir, targets, release=PublishInfo(run_id, tag, version),
                             lock_wait=300.0)

Resolving a target checks its credentials and, for the sandbox's repo server
(``host_key: sandbox``), starts the sandbox if it is not running. Targets are published one
after the other, in inventory order; one failing does not stop the others, and the error
names every failed target. A publish that fails leaves what clients of that target see
unchanged. A target keeps every package it serves that the tree lacks, unless the tree was
pruned of it: each publish checks under its lock, and the release pipeline asks up front
(:func:`orchestrator.publish.pull.ready_tree`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

from orchestrator.errors import PublishError, UsageError
from orchestrator.fleet import HostAccess
from orchestrator.inventory import SANDBOX_HOST_KEY, Inventory, PublishTarget, SshPublish
from orchestrator.publish.info import PublishedTo, PublishInfo, Report
from orchestrator.publish.local import scan_tree
from orchestrator.publish.manifest import Manifest
from orchestrator.publish.s3 import S3Target, publish_s3, read_manifest, s3_target
from orchestrator.publish.ssh import SshTarget, publish_ssh, served_manifest
from orchestrator.sandbox import control, reposerver
from orchestrator.sandbox.settings import SandboxSettings

Target = SshTarget | S3Target


def _sandbox_access(config: SshPublish, sandbox: SandboxSettings) -> HostAccess:
    control.ensure_running(sandbox)
    server = reposerver.access(sandbox)
    expected = (server.address, server.port, server.web_root)
    if (config.host, config.port, config.path) != expected:
        raise UsageError(
            f"publish {config.name!r} uses the sandbox's host key, so host, port and path must "
            f"be the sandbox repo server's: {server.address}, {server.port}, {server.web_root}"
        )
    return HostAccess(
        name=config.name,
        address=config.host,
        port=config.port,
        user=config.user,
        host_key=server.host_key,
        identity_file=str(server.identity_file),
    )


def ssh_access(config: SshPublish, sandbox: SandboxSettings | None) -> HostAccess:
    """How to reach a repo server, its host key pinned."""
    if config.host_key == SANDBOX_HOST_KEY:
        if sandbox is None:
            raise UsageError(f"publish {config.name!r}: host_key 'sandbox' needs cloud.sandbox")
        return _sandbox_access(config, sandbox)
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


def resolve(config: PublishTarget, sandbox: SandboxSettings | None) -> Target:
    """A publish target ready to use: access for a server, a client for a bucket."""
    if isinstance(config, SshPublish):
        return SshTarget(config, ssh_access(config, sandbox))
    return s3_target(config)


def select(targets: Sequence[PublishTarget], name: str | None) -> list[PublishTarget]:
    """All targets, or the one named; UsageError if there is none."""
    if not targets:
        raise UsageError("the inventory has no publish targets: add a 'publish' section")
    if name is None:
        return list(targets)
    chosen = [target for target in targets if target.name == name]
    if not chosen:
        names = ", ".join(target.name for target in targets)
        raise UsageError(f"no publish target named {name!r} (targets: {names})")
    return chosen


def resolve_targets(inventory: Inventory, name: str | None = None) -> list[Target]:
    """The inventory's publish targets (all, or the one named), resolved."""
    return [resolve(config, inventory.cloud.sandbox) for config in select(inventory.publish, name)]


def served_by(target: Target) -> tuple[str, Manifest]:
    """The target in words, and the manifest of what it serves now (read without its lock)."""
    if isinstance(target, SshTarget):
        return target.where, served_manifest(target)
    bucket = target.bucket()
    return bucket.where, read_manifest(bucket)


def publish_tree(
    repo_dir: Path,
    targets: Sequence[Target],
    *,
    release: PublishInfo,
    lock_wait: float,
    report: Report = print,
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
            if isinstance(target, SshTarget):
                publish = partial(publish_ssh, target)
            else:
                publish = partial(publish_s3, target)
            result = publish(
                tree, release, lock_wait=lock_wait, report=report, allow_removals=allow_removals
            )
        except PublishError as error:
            failures.append(str(error))
            continue
        done.append(result)
    if failures:
        published = ", ".join(result.name for result in done) or "none"
        raise PublishError(f"publishing failed: {'; '.join(failures)} (published to: {published})")
    return done
