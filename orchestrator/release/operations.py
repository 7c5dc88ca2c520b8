"""The operations a release plan is made of: typed data, each saying where it runs.

A plan (:mod:`orchestrator.release.plan`) is a sequence of these, and the executor
(:mod:`orchestrator.engine.executor`) runs exactly them: what ``invoke plan`` prints is what runs,
and golden files pin it. Each operation is frozen data with the place it runs (``where``),
how long it may take (``timeout``, seconds; 0 where its own parts bound it) and one line
that describes it (:meth:`Operation.describe`). ``cleanup`` operations run even after an
earlier one failed or the run was interrupted (destroying a droplet, cleaning a static
host), so a program never leaves a host behind.

Run-wide operations come before the builds (the release lock, the signing key, what the
targets serve, the source export) and after them (index, one publish per target, verify,
one per hook, with the Python distributions' upload after the publishes); a target's own program provisions its host, runs its commands, fetches and
checks its artifacts and lets the host go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from orchestrator.cloud.buildhosts import Machine
from orchestrator.engine.operations import HostOperation, Operation

CLOUD = "cloud"


# Run-wide, before the builds.


@dataclass(frozen=True)
class TakeReleaseLock(Operation):
    """Hold the workspace's release lock from here to the end of the run."""

    kind: ClassVar[str] = "lock"
    path: str = ""

    def describe(self) -> str:
        """One line."""
        return f"take the release lock {self.path} (wait up to {self.timeout:g}s), held to the end"


@dataclass(frozen=True)
class CheckSigningKey(Operation):
    """Open the signing key and prove it signs, before any droplet exists."""

    kind: ClassVar[str] = "signing-key"

    def describe(self) -> str:
        """One line."""
        return "open the signing key, check its expiry and self-signatures, sign a probe"


@dataclass(frozen=True)
class CheckTargets(Operation):
    """Read what each publish target serves: is the version there, is a tree to pull back."""

    kind: ClassVar[str] = "publish-check"
    targets: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line."""
        return (
            f"read what {', '.join(self.targets)} serve: stop if this version is there; pull a "
            "missing local tree back; refuse a tree that lacks published packages"
        )


@dataclass(frozen=True)
class ExportSource(Operation):
    """``git archive`` of the commit the release builds, once, for every target."""

    kind: ClassVar[str] = "export"
    command: str = ""
    commit: str = ""
    output: str = ""

    def describe(self) -> str:
        """One line."""
        return self.command


# A target's own program.


@dataclass(frozen=True)
class MachineOperation(Operation):
    """An operation on the target's machine as a whole: getting it, letting it go."""

    machine: Machine = field(default_factory=lambda: Machine("droplet", ""))

    @property
    def where(self) -> str:
        """The cloud API for a droplet, the host itself for a static host."""
        return CLOUD if self.machine.kind == "droplet" else self.machine.name


@dataclass(frozen=True)
class Provision(MachineOperation):
    """Get the target's machine: create the droplet and wait for SSH, or connect to the host."""

    kind: ClassVar[str] = "provision"

    def describe(self) -> str:
        """One line."""
        machine = self.machine
        if machine.kind == "droplet":
            vpc = f"VPC {machine.vpc_uuid}, " if machine.vpc_uuid else ""
            return (
                f"create droplet {machine.name} (size {machine.size}, image {machine.image}, "
                f"region {machine.region}, {vpc}tags {', '.join(machine.tags)}) with a fresh "
                f"ed25519 host key, pinned; wait up to {self.timeout:g}s for SSH on its "
                f"{machine.network} IPv4 address"
            )
        return f"connect to {machine.user}@{machine.address}:{machine.port} with its pinned key"


@dataclass(frozen=True)
class Upload(HostOperation):
    """Copy a file of the orchestrator to the target's host."""

    kind: ClassVar[str] = "upload"
    source: str = ""
    destination: str = ""

    def describe(self) -> str:
        """One line."""
        return f"put {self.source} -> {self.destination}"


@dataclass(frozen=True)
class FetchArtifacts(HostOperation):
    """Stream the artifact bundle back through the strict reader and check every file."""

    kind: ClassVar[str] = "fetch"
    command: str = ""
    destination: str = ""

    def describe(self) -> str:
        """One line."""
        return (
            f"{self.command} | strict unpack into {self.destination}, then check checksums "
            "and each package's name, epoch, version and architecture"
        )


@dataclass(frozen=True)
class ReleaseMachine(MachineOperation):
    """Let the target's machine go: destroy the droplet (and wait until it is gone)."""

    kind: ClassVar[str] = "destroy"

    @property
    def name(self) -> str:
        """The name: destroy for a droplet, disconnect for a static host."""
        return "destroy" if self.machine.kind == "droplet" else "disconnect"

    def describe(self) -> str:
        """One line."""
        if self.machine.kind == "droplet":
            return f"destroy droplet {self.machine.name} and wait until the API no longer lists it"
        return f"disconnect from {self.machine.name} (it outlives the run)"


# Run-wide, after the builds.


@dataclass(frozen=True)
class Index(Operation):
    """Add the verified packages to a working copy of the local tree, re-index and sign."""

    kind: ClassVar[str] = "index"
    channel: str = ""

    def describe(self) -> str:
        """One line."""
        return (
            f"copy the local tree, add the packages to channel {self.channel} in the copy, "
            "re-index and sign; it replaces the tree once a target serves it"
        )


@dataclass(frozen=True)
class Publish(Operation):
    """Publish the indexed tree to one target, atomically, under its lock."""

    kind: ClassVar[str] = "publish"
    # One publish per target, all tried: a target that fails does not keep the others.
    grouped: ClassVar[bool] = True
    target: str = ""

    @property
    def name(self) -> str:
        """The name: publish and the target's."""
        return f"publish {self.target}"

    def describe(self) -> str:
        """One line."""
        return f"publish the tree to {self.target} (waiting up to {self.timeout:g}s for its lock)"


@dataclass(frozen=True)
class PushImage(Operation):
    """Push a target's checked image to the registry by digest: one platform of the tag."""

    kind: ClassVar[str] = "push-image"
    target: str = ""
    repository: str = ""
    tag: str = ""
    platform: str = ""

    @property
    def name(self) -> str:
        """The name: push-image and the target's."""
        return f"push-image {self.target}"

    def describe(self) -> str:
        """One line."""
        return (
            f"push {self.target}'s image to {self.repository} by digest (layers, config, then "
            f"its manifest; no tag yet), the {self.platform} image of {self.repository}:{self.tag}"
        )


@dataclass(frozen=True)
class PushIndex(Operation):
    """Push the index naming every platform's image as REPOSITORY:VERSION, then read it back."""

    kind: ClassVar[str] = "push-index"
    repository: str = ""
    tag: str = ""
    # The image targets of the repository and their platforms, one each, in order.
    targets: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The name: push-index and the repository's."""
        return f"push-index {self.repository}"

    def describe(self) -> str:
        """One line."""
        return (
            f"push the image index of {', '.join(self.platforms)} as "
            f"{self.repository}:{self.tag} (never over another push of it, but for a dead "
            "run's of this workspace), then check the registry serves each platform's image "
            "with that version label, and no other platform"
        )


@dataclass(frozen=True)
class TagImage(Operation):
    """Move the inventory's extra tags to the index a plain release pushed."""

    kind: ClassVar[str] = "tag-image"
    repository: str = ""
    # The version tag whose index the tags move to.
    version: str = ""
    tags: tuple[str, ...] = ()
    # The inventory's templates the tags were rendered from, one each (a newer release
    # that renders one to the same tag keeps it).
    templates: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The name: tag-image and the repository's."""
        return f"tag-image {self.repository}"

    def describe(self) -> str:
        """One line."""
        return (
            f"point {', '.join(self.tags)} of {self.repository} at the index of "
            f"{self.repository}:{self.version}, each unless a newer release holds it"
        )


@dataclass(frozen=True)
class UploadPython(Operation):
    """Upload the targets' checked Python distributions to the index with twine."""

    kind: ClassVar[str] = "upload-python"
    index: str = ""
    project: str = ""
    version: str = ""
    # The targets whose python_artifacts are uploaded, in order.
    targets: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line."""
        return (
            f"read {self.index}'s page of {self.project}: upload with twine the distributions "
            f"of {', '.join(self.targets)} ({self.project} {self.version}) it lacks, skip "
            "those it has with the same sha256, fail on one it has with another; read it back"
        )


@dataclass(frozen=True)
class Verify(Operation):
    """Install from every published repository with real apt, dnf and zypper clients."""

    kind: ClassVar[str] = "verify"
    # What is published stays published: a failed check is reported, not undone.
    fatal: ClassVar[bool] = False
    version: str = ""
    channel: str = ""

    def describe(self) -> str:
        """One line."""
        return f"apt-get, dnf and zypper install {self.version} from {self.channel}"


@dataclass(frozen=True)
class RunHook(Operation):
    """One ``hooks.after_publish`` command on the orchestrator."""

    kind: ClassVar[str] = "hook"
    fatal: ClassVar[bool] = False
    number: int = 0
    command: str = ""

    @property
    def name(self) -> str:
        """The name: hook and its number."""
        return f"hook {self.number}"

    def describe(self) -> str:
        """One line."""
        return f"sh -c {self.command!r} (killed after {self.timeout:g}s)"
