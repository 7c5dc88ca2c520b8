"""Writing pins into the inventory, and proposing them as a pushed branch (GitOps).

``promote --write`` and ``env.track --write`` rewrite pinned versions in the inventory
file where they stand (:mod:`orchestrator.deploy.pinfile`); with ``--push`` the changed
lines, and only those, are also committed on a new branch ``relorch/<env>-<what>`` of the
inventory's git repository and pushed (:mod:`orchestrator.deploy.gitpush`), for a pull or
merge request, or with ``--merge BRANCH`` straight onto a branch a CI deploys from.
Everything that can be refused (no repository, a dirty file, a remote that does not
exist) is refused before anything is written or deployed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.config.environments import Environment
from orchestrator.deploy.gitpush import GitTarget, branch_name, inventory_repository, propose
from orchestrator.deploy.payload import Payload
from orchestrator.deploy.pinfile import pinned_text
from orchestrator.deploy.sets import set_versions
from orchestrator.errors import UsageError
from orchestrator.semver import parse_range

PUSH_HELP = {
    "push": "with --write: commit the changed lines on a new branch relorch/ENV-... of the "
    "inventory's git repository and push it (nothing is deployed: merging it is)",
    "remote": "the git remote to push to (default: origin)",
    "merge": "with --push: also fast-forward this branch to the commit and push it",
}


@dataclass(frozen=True)
class PinRequest:
    """What a command asked of the inventory: write pins, push them, where, merged into what."""

    write: bool = False
    push: bool = False
    remote: str | None = None
    merge: str | None = None

    def checked(self) -> PinRequest:
        """The request, once its flags agree; UsageError naming the one that does not."""
        if self.push and not self.write:
            raise UsageError("--push pushes what --write writes: add --write")
        if (self.remote is not None or self.merge is not None) and not self.push:
            raise UsageError("--remote and --merge go with --push")
        return self


def repository_for(request: PinRequest, inventory: Path) -> GitTarget | None:
    """The inventory's git repository when the request pushes, checked before anything changes."""
    if not request.push:
        return None
    return inventory_repository(inventory, request.remote or "origin")


def pin_label(pins: Mapping[str | None, str]) -> str:
    """What changed, for a branch name and a commit message: ``1.2.4``, ``cache-1.5.0``."""
    return "-".join(v if name is None else f"{name}-{v}" for name, v in sorted(
        pins.items(), key=lambda item: item[0] or ""
    ))  # fmt: skip


def write_pins(
    inventory: Path,
    environment: str,
    pins: Mapping[str | None, str],
    request: PinRequest,
    repository: GitTarget | None,
) -> list[str]:
    """Rewrite ``pins`` in the inventory, or propose them as a pushed branch. What to say.

    Without a repository the file is rewritten in place. With one, the change is
    committed and pushed on its branch, and the working tree is left as it was (so the
    next proposal starts from a clean file) unless ``--merge`` moved the branch checked
    out there, whose file then holds the change too.
    """
    pinned = pinned_text(inventory, environment, pins)
    if pinned.new_text == pinned.old_text:
        return [f"{environment} is pinned to {_shown(pins)} already: nothing to write"]
    if repository is None:
        pinned.write()
        return [f"pinned {environment} to {_shown(pins)} in {pinned.path}"]
    proposal = propose(
        repository, pinned.new_text.encode("utf-8"), branch=branch_name(environment, pin_label(pins)),
        message=f"{environment}: pin {_shown(pins)}", merge=request.merge,
    )  # fmt: skip
    said = [
        f"pushed branch {proposal.branch} ({proposal.commit[:12]}): {environment} pinned to {_shown(pins)}"
    ]
    if proposal.merged:
        said.append(f"fast-forwarded {request.merge} to it and pushed it")
        if request.merge == repository.head_branch:
            pinned.write()  # the checked-out branch moved: its file follows
    if proposal.review_url:
        said.append(f"open the request: {proposal.review_url}")
    return said


def _shown(pins: Mapping[str | None, str]) -> str:
    return ", ".join(v if n is None else f"{n} {v}" for n, v in pins.items())


def pins_for(environment: Environment, payload: Payload, version: str) -> dict[str | None, str]:
    """The pins that put ``environment`` on ``version`` (or a set): each pinned service's.

    The environment's own ``version`` (key None) without services, else each service's
    whose pin moves; ranges stay as they are. UsageError when nothing is pinned.
    """
    pinned = [s for s in payload.services if parse_range(s.version).pin is not None]
    if not pinned:
        if not environment.services:
            raise UsageError(
                f"--write rewrites a pinned version, and {environment.name}'s version "
                f"{payload.services[0].version!r} is a range"
            )
        raise UsageError(
            f"--write rewrites pinned versions, and every service of {environment.name} "
            "follows a range"
        )
    versions = set_versions(version, payload.names) or {}
    if not environment.services:
        return {None: versions[payload.names[0]]}
    return {
        s.name: versions[s.name]
        for s in pinned
        if s.name in versions and versions[s.name] != parse_range(s.version).pin
    }
