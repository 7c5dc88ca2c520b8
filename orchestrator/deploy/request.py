"""What a deploy was asked: the environment, the version, the action, and who asked."""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass, field

from orchestrator.deploy.records import Action, Audit


@dataclass(frozen=True)
class DeployRequest:
    """What was asked: which environment, which version (None: what its range takes), how."""

    environment: str
    version: str | None = None
    action: Action = "deploy"
    audit: Audit = field(default_factory=lambda: Audit(by=who_asked()))
    lock_wait: float = 300.0
    dry_run: bool = False
    # A promotion of an explicitly chosen older version may go below what runs.
    allow_older: bool = False
    # A release's deploy: a version older than what runs is skipped, not an error.
    auto: bool = False
    # A release's deploy to an environment of several services: the project's own
    # services take this release, the others what their ranges take.
    release: str | None = None

    @property
    def flag(self) -> str:
        """The command-line flag that names the version: ``--to`` for a rollback."""
        return "--to" if self.action == "rollback" else "--version"


def who_asked() -> str:
    """Who runs the tool: the CI's user if a CI runs it, else the login name."""
    for variable in ("GITLAB_USER_LOGIN", "GITHUB_ACTOR", "USER", "LOGNAME"):
        value = os.environ.get(variable)
        if value:
            return value[:100]
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid with no name (a container's)
        return f"uid {os.getuid()}"


def ci_job() -> str | None:
    """The CI job's URL, if a CI runs the tool."""
    if os.environ.get("CI_JOB_URL"):
        return os.environ["CI_JOB_URL"][:500]
    server, repo, run = (
        os.environ.get(v) for v in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None
