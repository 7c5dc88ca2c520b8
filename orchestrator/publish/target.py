"""The seam between a release and where it is published: one protocol, two kinds of target.

A repo server over SSH (:class:`orchestrator.publish.ssh.target.SshTarget`) and an S3-compatible
bucket (:class:`orchestrator.publish.s3.target.S3Target`) each implement it once; which one a
``publish`` entry of the inventory becomes is decided once, in
:func:`orchestrator.publish.run.resolve`. :mod:`orchestrator.testing` has one in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from orchestrator.config.inventory import PublishConfig
from orchestrator.errors import UsageError
from orchestrator.publish.info import PublishedTo, PublishInfo, Say
from orchestrator.publish.ledger import DeployFailure, Failures
from orchestrator.publish.local import LocalTree
from orchestrator.publish.manifest import Manifest


class PublishTarget(Protocol):
    """Where a repository tree is published, atomically, under the target's own lock."""

    @property
    def name(self) -> str:
        """The inventory's name of the target."""

    @property
    def where(self) -> str:
        """The target in words, for messages."""

    @property
    def url(self) -> str:
        """The public base URL that serves the tree."""

    def served(self) -> Manifest:
        """The manifest of what the target serves now (empty if nothing), read unlocked."""

    def publish(
        self, tree: LocalTree, release: PublishInfo, *, lock_wait: float, say: Say,
        allow_removals: bool = False,
    ) -> PublishedTo:  # fmt: skip
        """Make the target serve ``tree``; PublishError leaves what it served as it was.

        Packages the target serves and the tree lacks are removed only if the tree was
        pruned of them, or with ``allow_removals``.
        """

    def publish_page(self, page: bytes, *, run_id: str, lock_wait: float, say: Say) -> str:
        """Serve ``page`` at the target's ``environments_page`` path, atomically; its URL.

        The page sits beside the tree: publishing a tree keeps it and fetching one leaves
        it out. UsageError if the target has no ``environments_page``.
        """

    def unpublish_page(self, *, run_id: str, lock_wait: float, say: Say) -> str:
        """Stop serving the environments page (and never serve it again on a rollback); its URL.

        UsageError if the target has no ``environments_page``.
        """

    def deploy_failures(self) -> Failures:
        """The deploy ledger (:mod:`orchestrator.publish.ledger`), read without the lock.

        Empty when there is none yet; PublishError naming the target when what is there is
        not a ledger or is larger than a ledger may be.
        """

    def record_deploy_failure(
        self, environment: str, failure: DeployFailure, *, lock_wait: float, say: Say
    ) -> Failures:
        """Add ``failure`` to the ledger under the target's lock, atomically; the new ledger.

        The ledger sits beside the tree, never served: publishing a tree, a rollback and
        fetching one leave it alone. A version already listed for ``environment`` stays
        listed once.
        """

    def fetch(self, tree: Path) -> Manifest:
        """Copy every file the target serves into the new directory ``tree``; the manifest.

        Files are checked by :func:`orchestrator.publish.pull.pull_tree`, not here.
        """

    def unlock(self, *, force: bool) -> str | None:
        """The lock holder's details (None if unlocked); ``force`` removes the lock."""


def page_path(config: PublishConfig, where: str) -> str:
    """Where the target serves the environments page; UsageError if it serves none."""
    if config.environments_page is None:
        raise UsageError(
            f"{where} has no environments_page: set it under publish '{config.name}' "
            "(e.g. environments_page: environments.html) to publish the page there"
        )
    return config.environments_page
