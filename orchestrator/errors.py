"""The exception tree of the orchestrator.

Every error the tool raises on purpose derives from :class:`OrchestratorError`, and its
message says what was wrong and what to do about it, on one line::

    OrchestratorError
    ├── UsageError            bad input from the command line or the inventory (exit 2)
    │   ├── TagError          a tag that is not vMAJOR.MINOR.PATCH[-PRERELEASE]
    │   ├── InventoryError    an inventory file that does not match the schema
    │   └── CredentialsError  a missing token, key or secret
    ├── CloudError            the cloud provider refused or failed a request
    │   └── ProvisionError    a droplet did not become usable before its deadline
    ├── SandboxError          the local sandbox could not be started or reached
    ├── LockError             another run holds the release lock or a deploy lock
    ├── HostError             SSH to a build host failed (host key, auth, timeout)
    │   └── HostKeyMismatch   the host presented another key than the pinned one
    ├── ArchiveError          an archive from a host holds an unsafe member or passes a limit
    ├── BuildError            a target's build or artifact verification failed
    │   └── Cancelled         a target stopped because another failed or the run was interrupted
    ├── SigningError          the signing key is missing, expired or too weak
    ├── RepositoryError       a repository tree could not be indexed
    ├── PublishError          publishing failed; nothing half-written is visible
    └── DeployError           a deploy failed on a host (install, restart, health check)
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Root of every error the orchestrator raises on purpose."""

    exit_code = 1


class UsageError(OrchestratorError):
    """Bad input: the user must change a flag, a file or an environment variable."""

    exit_code = 2


class TagError(UsageError):
    """A git tag that is not an accepted release tag."""


class InventoryError(UsageError):
    """An inventory file that cannot be read or does not match the schema."""


class CredentialsError(UsageError):
    """A token, key or secret that the chosen inventory needs is missing."""


class CloudError(OrchestratorError):
    """The cloud provider refused or failed a request."""


class ProvisionError(CloudError):
    """A droplet did not become reachable before its deadline."""


class SandboxError(OrchestratorError):
    """The local sandbox could not be started, stopped or reached."""


class LockError(OrchestratorError):
    """Another run holds a lock (the workspace's release lock, an environment's deploy lock)."""


class HostError(OrchestratorError):
    """An SSH connection to a build host failed or was refused."""


class HostKeyMismatch(HostError):
    """A host presented another key than the one pinned for it: refused, never trusted."""


class ArchiveError(OrchestratorError):
    """An archive a build host or repo server sent holds an unsafe member or passes a limit."""


class BuildError(OrchestratorError):
    """A target's build, collection or artifact verification failed."""


class Cancelled(BuildError):
    """A target stopped early: another target failed (fail_fast) or the run was interrupted."""


class SigningError(OrchestratorError):
    """The signing key is missing, expired, about to expire or too weak."""


class RepositoryError(OrchestratorError):
    """A repository tree could not be built or indexed."""


class PublishError(OrchestratorError):
    """Publishing failed; what clients see is unchanged."""


class DeployError(OrchestratorError):
    """A deploy failed on a host: install, restart or health check; the message names it."""
