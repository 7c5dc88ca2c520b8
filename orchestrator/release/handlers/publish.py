"""Publishing: what the targets serve before the builds, the publishes, and what follows them.

- ``publish-check`` ends the run at once when every target (and the registry, for image
  targets, and the Python index, for Python distributions) serves this version already, skips the builds when the local tree has it (a
  target lacks it: after a rollback, or a publish that failed there), pulls a missing
  tree back, and refuses a tree that lacks published packages;
- ``publish`` sends the indexed working copy (the local tree when the builds were
  skipped) to one target, atomically, under its lock;
- ``verify`` installs from what was published with real clients, and each ``hook`` runs
  an ``after_publish`` command: a failure of either is reported, the release stands.
"""

from __future__ import annotations

import os
import re

from orchestrator.engine.executor import Directive, EndRun, SkipBuilds
from orchestrator.errors import OrchestratorError, PublishError
from orchestrator.publish.info import PublishInfo
from orchestrator.publish.local import scan_tree
from orchestrator.publish.manifest import Manifest
from orchestrator.publish.pull import read_served, ready_tree
from orchestrator.release.handlers.context import ReleaseContext
from orchestrator.release.handlers.family import Family
from orchestrator.release.handlers.images import served_images
from orchestrator.release.handlers.pyindex import earlier_distributions, served_python
from orchestrator.release.handlers.repo import read_ledger
from orchestrator.release.hooks import hook_environment, run_hook
from orchestrator.release.operations import CheckTargets, Publish, RunHook, Verify
from orchestrator.release.plan import Plan

FAMILY = Family("publish")


class VerificationFailed(OrchestratorError):
    """A real client could not install what was published."""


class HookFailed(OrchestratorError):
    """An after-publish hook exited non-zero or was killed; the release stands."""


def serves(manifest: Manifest, plan: Plan) -> bool:
    """Whether a target's manifest lists a package of ``plan``'s version for every target."""
    paths = list(manifest.files)
    for target in plan.targets:
        if target.format == "image":
            continue  # in the registry, not in the tree
        name, version = target.accepted.names[0], target.accepted.version
        if target.format == "deb":
            arches = f"({re.escape(target.arch)}|all)"
            pattern = rf"deb/pool/.*/{re.escape(name)}_{re.escape(version)}(-[^_/]+)?_{arches}\.deb"
        else:
            arches = f"({re.escape(target.rpm_arch)}|noarch)"
            pattern = (
                rf"rpm/{re.escape(plan.channel)}/{re.escape(target.rpm_arch)}/.*"
                rf"{re.escape(name)}-{re.escape(version)}-[^-/]+\.{arches}\.rpm"
            )
        compiled = re.compile(pattern)
        if not any(compiled.fullmatch(path) for path in paths):
            return False
    return True


@FAMILY.run_wide(CheckTargets)
def check_targets(_operation: CheckTargets, context: ReleaseContext) -> Directive:
    """End the run, skip the builds or go on, by what the targets and the registry serve."""
    plan = context.plan
    targets = context.seams.publish_targets()
    context.targets = {target.name: target for target in targets}
    repository = context.paths.repository
    served = read_served(targets)
    serving = [isinstance(manifest, Manifest) and serves(manifest, plan) for _, manifest in served]
    # An image a dead run pushed may be pushed over only while nothing is published; a
    # target that could not be read may serve the version.
    context.repositories_serve_version = any(
        not isinstance(manifest, Manifest) or serves(manifest, plan) for _, manifest in served
    )
    images = served_images(context)
    everywhere = all(serving) and all(found is not None for found in images.values())
    python_served = served_python(context, _ledger_run(context))
    everywhere = everywhere and python_served
    if everywhere and not context.force:
        return EndRun(
            "already-published",
            f"{plan.tag} is already published as {plan.version} in "
            f"{plan.channel} by every target; nothing to do (--force to redo)",
        )
    # A machine that starts empty gets the served tree back; a tree that lost
    # published packages stops the run here, before any droplet exists.
    ready_tree(repository, served, context.say)
    entry = read_ledger(repository).get(plan.version)
    if not isinstance(entry, dict) or context.force:
        return None
    lacking = sorted(target for target, found in images.items() if found is None)
    if lacking:
        raise PublishError(
            f"{plan.tag} is in the local tree but the registry lacks the image "
            f"of {', '.join(lacking)}, which only the build of a new version can "
            "make now (its packages are published): release a new version"
        )
    if not earlier_distributions(context, str(entry.get("run_id"))) and not python_served:
        raise PublishError(_no_distributions(context, str(entry.get("run_id"))))
    return SkipBuilds(
        f"{plan.tag} is in the local tree (run {entry.get('run_id')}) but not "
        "served by every target: publishing it again"
    )


def _ledger_run(context: ReleaseContext) -> str | None:
    """The run that put this version in the local tree, if the tree is here and has it."""
    entry = read_ledger(context.paths.repository).get(context.plan.version)
    return str(entry.get("run_id")) if isinstance(entry, dict) else None


def _no_distributions(context: ReleaseContext, run_id: str) -> str:
    """Why a version in the local tree cannot have its Python distributions uploaded."""
    gone = (
        f"{context.plan.tag} is in the local tree, but the Python distributions of its run "
        f"{run_id} are gone from this machine"
    )
    if context.python_unread is not None:
        # A busy index may serve them all: it is asked again by the next run.
        return f"{gone} and {context.python_unread}: run the release again once it answers"
    return f"{gone} and the index lacks some of them: release a new version"


@FAMILY.run_wide(Publish)
def publish(operation: Publish, context: ReleaseContext) -> None:
    """Publish the indexed copy (or, with the builds skipped, the tree) to one target."""
    plan = context.plan
    tree = context.working.path if context.working is not None else context.paths.repository
    release = PublishInfo(plan.run_id, plan.tag, plan.version)
    published = context.targets[operation.target].publish(
        scan_tree(tree), release, lock_wait=operation.timeout, say=context.say
    )
    context.published.append(published)


@FAMILY.run_wide(Verify)
def verify(operation: Verify, context: ReleaseContext) -> None:
    """Install the version from every published repository with real clients."""
    if context.seams.verify is None:
        return
    failures = context.seams.verify(operation.version, operation.channel, context.say)
    if failures:
        raise VerificationFailed(f"verify: {len(failures)} check(s) failed: {failures[0]}")
    context.messages.append("verify: all checks passed")


@FAMILY.run_wide(RunHook)
def run_after_publish_hook(operation: RunHook, context: ReleaseContext) -> None:
    """Run one ``after_publish`` hook with the release's variables; its log is the hooks'."""
    plan, artifacts = context.plan, context.artifacts
    variables = {
        "TAG": plan.tag,
        "COMMIT": plan.commit,
        "VERSION": plan.version,
        "CHANNEL": plan.channel,
        "RUN_ID": plan.run_id,
        "ARTIFACTS": " ".join(str(a.path) for a in artifacts),
        "EXTRA_ARTIFACTS": " ".join(str(a.path) for a in artifacts if a.kind == "extra"),
    }
    message = run_hook(
        operation.command,
        environment=hook_environment(os.environ, context.inventory.hooks.env, variables),
        cwd=context.paths.run_dir,
        log=context.paths.log_dir / "hooks.log",
        timeout=operation.timeout,
    )
    context.messages.append(message)
    if message.startswith("hook failed"):
        raise HookFailed(message)
