"""The signed repository: the key it is signed with, and the packages indexed into it.

- ``signing-key`` opens the key and proves it signs before any droplet exists;
- ``index`` adds every package to a working copy of the local tree and writes the
  version's ledger entry there; the copy becomes the tree once a target serves it, and
  is thrown away otherwise (:func:`settle_tree`, at the cleanup), so what a run indexed
  is published by it or gone.
"""

from __future__ import annotations

import time
from pathlib import Path

from orchestrator.engine.atomic import write_json_atomically
from orchestrator.release.handlers.context import ReleaseContext
from orchestrator.release.handlers.family import Family
from orchestrator.release.journal import read_journal
from orchestrator.release.operations import CheckSigningKey, Index
from orchestrator.repo.build import add_packages
from orchestrator.repo.layout import STATE
from orchestrator.repo.options import repo_options
from orchestrator.repo.tree import holding_tree_lock
from orchestrator.repo.working import WorkingCopy

LEDGER = "releases.json"

FAMILY = Family("repo")


def read_ledger(repository: Path) -> dict[str, object]:
    """The versions the local tree holds, by package version."""
    return read_journal(repository / STATE / LEDGER) or {}


@FAMILY.run_wide(CheckSigningKey)
def check_signing_key(_operation: CheckSigningKey, context: ReleaseContext) -> None:
    """Open the key, held to the end of the run, and prove it signs."""
    context.signer = context.resources.enter_context(context.seams.signing_key())
    context.signer.prove()  # a wrong passphrase stops the run before any droplet exists


@FAMILY.run_wide(Index)
def index(operation: Index, context: ReleaseContext) -> None:
    """Add the verified packages to a working copy of the tree, re-index and sign it."""
    assert context.signer is not None  # the plan opens the key first
    plan, repository = context.plan, context.paths.repository
    # The tree stays locked until the copy has replaced it or been thrown away.
    context.resources.enter_context(holding_tree_lock(repository, run_id=plan.run_id, tag=plan.tag))
    context.working = WorkingCopy(repository, context.paths.run_dir / "tree")
    packages = [a.path for a in context.artifacts if a.kind in ("deb", "rpm")]
    if packages:
        change = add_packages(
            packages,
            context.working.path,
            operation.channel,
            repo_options(context.inventory),
            context.signer,
        )
        context.messages.append(f"indexed {len(change.added)} new package file(s)")
        _record(context, context.working.path)


def _record(context: ReleaseContext, tree: Path) -> None:
    """The ledger entry of this version, in the tree the packages are in."""
    plan = context.plan
    path = tree / STATE / LEDGER
    ledger = read_journal(path) or {}
    ledger[plan.version] = {
        "tag": plan.tag,
        "commit": plan.commit,
        "version": plan.version,
        "channel": plan.channel,
        "run_id": plan.run_id,
        "at": time.time(),
        "packages": {a.name: a.sha256 for a in context.artifacts},
    }
    write_json_atomically(path, ledger)


def settle_tree(context: ReleaseContext) -> str | None:
    """Keep the working copy as the tree if a target serves it, else drop it; what it did."""
    if context.working is None:
        return None
    if context.published:
        context.working.commit()
        done = "the local tree now holds this release"
    else:
        context.working.discard()
        done = "the local tree is as it was"
    context.working = None
    return done
