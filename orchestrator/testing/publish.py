"""A publish target in memory (a :class:`~orchestrator.publish.target.PublishTarget`).

It serves the files of the last tree published to it and keeps the manifest a real target
keeps, with the same rules: a tree that lacks served packages it was not pruned of is
refused, and a held lock makes a second publisher wait and give up. Its deploy ledger is
kept as the bytes a real target would store, and parsed by the same code.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.engine.locks import LockDetails, new_details
from orchestrator.errors import PublishError, UsageError
from orchestrator.publish.info import PublishedTo, PublishInfo, Say
from orchestrator.publish.ledger import DeployFailure, Failures, parse_ledger, with_failure
from orchestrator.publish.local import LocalTree
from orchestrator.publish.manifest import Manifest, next_manifest


class MemoryTarget:
    """Serves what was published to it from a dict; ``refuse`` makes every request fail."""

    def __init__(
        self, name: str = "memory", *, refuse: str | None = None, page: str | None = None
    ) -> None:
        self._name = name
        self.refuse = refuse
        self.page = page
        self.files: dict[str, bytes] = {}
        self.manifest = Manifest()
        self.holder: LockDetails | None = None
        self.publishes = 0
        # The deploy ledger as stored (None: there is none); how often it was read.
        self.ledger: bytes | None = None
        self.ledger_reads = 0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The target's name."""
        return self._name

    @property
    def where(self) -> str:
        """The target in words."""
        return f"memory target {self._name}"

    @property
    def url(self) -> str:
        """Where it would be served."""
        return f"memory://{self._name}"

    def served(self) -> Manifest:
        """The manifest of what it serves."""
        return self.manifest

    def publish(
        self, tree: LocalTree, release: PublishInfo, *, lock_wait: float, say: Say,
        allow_removals: bool = False,
    ) -> PublishedTo:  # fmt: skip
        """Serve ``tree`` from now on, unless it would unpublish packages or ``refuse`` says no."""
        with self._lock:
            if self.holder is not None:
                raise PublishError(f"{self.where} is locked by {self.holder.describe()}")
            self.holder = new_details(release.run_id, release.tag, datetime.now(UTC))
        try:
            if self.refuse is not None:
                raise PublishError(f"{self.where}: {self.refuse}")
            if not allow_removals:
                tree.check_keeps(self.manifest, self.where)
            following = next_manifest(self.manifest, tree.files, datetime.now(UTC), None)
            unchanged = following.files == self.manifest.files
            uploaded = [
                path for path in tree.files if self.manifest.files.get(path) != tree.files[path]
            ]
            beside = {path: data for path, data in self.files.items() if path == self.page}
            self.files = {path: tree.path(path).read_bytes() for path in tree.files} | beside
            self.manifest = following
            self.publishes += 1
        finally:
            with self._lock:
                self.holder = None
        return PublishedTo(
            name=self._name,
            url=self.url,
            key_url=f"{self.url}/{tree.key_file()}",
            snapshot=None,
            uploaded=len(uploaded),
            unchanged=unchanged,
        )

    def fetch(self, tree: Path) -> Manifest:
        """Write every served file into the new directory ``tree``."""
        if not self.manifest.files:
            raise PublishError(f"{self.where} publishes nothing yet: there is no tree to pull")
        tree.mkdir(mode=0o700)
        for path, data in self.files.items():
            if path == self.page:
                continue
            (tree / path).parent.mkdir(parents=True, exist_ok=True)
            (tree / path).write_bytes(data)
        return self.manifest

    def publish_page(self, page: bytes, *, run_id: str, lock_wait: float, say: Say) -> str:
        """Serve ``page`` beside the tree at the ``page`` path it was made with."""
        if self.page is None:
            raise UsageError(f"{self.where} has no environments_page")
        if not self.manifest.files:
            raise PublishError(f"{self.where} publishes nothing yet")
        self.files[self.page] = page
        return f"{self.url}/{self.page}"

    def unpublish_page(self, *, run_id: str, lock_wait: float, say: Say) -> str:
        """Stop serving the page."""
        if self.page is None:
            raise UsageError(f"{self.where} has no environments_page")
        self.files.pop(self.page, None)
        return f"{self.url}/{self.page}"

    def deploy_failures(self) -> Failures:
        """The deploy ledger; ``refuse`` makes reading it fail as an unreachable target would."""
        self.ledger_reads += 1
        if self.refuse is not None:
            raise PublishError(f"{self.where}: {self.refuse}")
        return {} if self.ledger is None else parse_ledger(self.ledger, self.where)

    def record_deploy_failure(
        self, environment: str, failure: DeployFailure, *, lock_wait: float, say: Say
    ) -> Failures:
        """Add ``failure`` to the ledger, unless the lock is held or ``refuse`` says no."""
        with self._lock:
            if self.holder is not None:
                raise PublishError(f"{self.where} is locked by {self.holder.describe()}")
            if self.refuse is not None:
                raise PublishError(f"{self.where}: {self.refuse}")
            failures = {} if self.ledger is None else parse_ledger(self.ledger, self.where)
            ledger, self.ledger = with_failure(failures, environment, failure, self.where)
        return ledger

    def unlock(self, *, force: bool) -> str | None:
        """The holder's details; ``force`` removes the lock."""
        with self._lock:
            held = self.holder.render() if self.holder is not None else None
            if force:
                self.holder = None
        return held
