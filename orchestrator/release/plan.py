"""The release plan: a pure function of the inventory, the release, the run id and options.

A plan is the program of a run: run-wide operations before the builds, one program of
operations per target, run-wide operations after (see :mod:`orchestrator.release.operations`).
Nothing here touches the network, the disk or the clock, so ``invoke plan`` and
``--dry-run`` show exactly what a release would run, and tests compare plans to golden
files. The executor (:mod:`orchestrator.engine.executor`) runs them and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from orchestrator.cloud.buildhosts import Machine
from orchestrator.commands import build as commands
from orchestrator.config.gate import ReleaseTests
from orchestrator.config.inventory import (
    TESTS,
    BuildTarget,
    ContainerImage,
    Inventory,
    StaticHost,
)
from orchestrator.config.templating import render_template
from orchestrator.engine.operations import Operation, RemoteCommand, operation_dict
from orchestrator.errors import UsageError
from orchestrator.images.names import REVISION_LABEL, RUN_LABEL, TITLE_LABEL, VERSION_LABEL
from orchestrator.images.names import TAG as IMAGE_TAG
from orchestrator.release.operations import (
    CheckSigningKey,
    CheckTargets,
    ExportSource,
    FetchArtifacts,
    Index,
    Provision,
    Publish,
    PushImage,
    PushIndex,
    ReleaseMachine,
    RunHook,
    TagImage,
    TakeReleaseLock,
    Upload,
    UploadPython,
    Verify,
)
from orchestrator.semver import is_semver
from orchestrator.version import Channel, Release, Revision, python_version

RPM_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}
_DROPLET_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9.-]")


@dataclass(frozen=True)
class Accepted:
    """What a target's packages must be; anything else fails the target before indexing."""

    names: tuple[str, ...]
    arch_independent: tuple[str, ...]
    epoch: int | None
    version: str
    # An image's version label: the release's version in semver form.
    image_version: str = ""
    # A Python distribution's name (the project's) and version (PEP 440 form).
    python_name: str = ""
    python_version: str = ""


@dataclass(frozen=True)
class Limits:
    """What a target's build host may send back (see ``ArtifactLimits`` in the inventory)."""

    bundle_bytes: int
    unpacked_bytes: int
    files: int
    log_bytes: int


@dataclass(frozen=True)
class TargetPlan:
    """Everything about one target's build, and the program of operations that runs it."""

    name: str
    arch: str
    rpm_arch: str
    format: str
    machine: Machine
    workdir: str
    timeout: float
    artifacts: tuple[str, ...]
    extra_artifacts: tuple[str, ...]
    python_artifacts: tuple[str, ...]
    environment: dict[str, str]
    accepted: Accepted
    limits: Limits
    operations: tuple[Operation, ...]

    @property
    def log_bytes(self) -> int:
        """How much of the build's output its log keeps."""
        return self.limits.log_bytes


@dataclass(frozen=True)
class GatePlan:
    """The release's tests on a machine of their own, and the program of operations that runs them."""

    name: str
    machine: Machine
    workdir: str
    timeout: float
    commands: tuple[str, ...]
    environment: dict[str, str]
    log_bytes: int
    operations: tuple[Operation, ...]


class MachineProgram(Protocol):
    """A program on one machine of the run: a target's build (:class:`TargetPlan`) or the tests."""

    @property
    def name(self) -> str:
        """The program's name: the target's, or the tests'."""

    @property
    def machine(self) -> Machine:
        """Where it runs."""

    @property
    def timeout(self) -> float:
        """Seconds its main command (the build, the tests) may take."""

    @property
    def log_bytes(self) -> int:
        """How much of its main command's output its log keeps."""

    @property
    def operations(self) -> tuple[Operation, ...]:
        """Its operations, in order."""


@dataclass(frozen=True)
class PlanOptions:
    """The flags of ``invoke release`` that change what runs."""

    verify: bool = False
    lock_wait: float = 300.0
    # --skip-tests: release without the inventory's tests (the summary says so).
    skip_tests: bool = False


# Where the release lock lives in the workspace (see orchestrator.engine.locks).
RELEASE_LOCK = ".orchestrator/release.lock"
# Creating a droplet and answering SSH is bounded by cloud.boot_timeout; a static host by
# this; a command that only moves files (prepare, unpack, collect) by STEP_TIMEOUT.
CONNECT_TIMEOUT = 60.0
STEP_TIMEOUT = 600.0
# The bundle's download may take STEP_TIMEOUT plus a second per MiB of its size limit.
TRANSFER_BYTES_PER_SECOND = 1 << 20
# The tests' log keeps as much as a build's does by default.
TESTS_LOG_BYTES = 64 << 20
# A command's channel waits this much longer than the host's own timeout, which ends it.
CHANNEL_GRACE = 30


@dataclass(frozen=True)
class Plan:
    """A whole release run, before anything happens: its operations, in the order they run."""

    run_id: str
    project: str
    tag: str
    # What the run builds: the ref it was asked for (a tag, a branch, HEAD) and its commit.
    ref: str
    commit: str
    version: str
    channel: str
    provider: str
    tool_tag: str
    run_tag: str
    max_droplets: int
    fail_fast: bool
    source_archive: str
    # How long the run's final cleanup may take to destroy what is left.
    cleanup_timeout: float
    before: tuple[Operation, ...] = ()
    # The tests, before any build machine exists (None: no tests, or --skip-tests).
    gate: GatePlan | None = None
    # Whether --skip-tests left the inventory's tests out.
    tests_skipped: bool = False
    targets: tuple[TargetPlan, ...] = field(default=())
    after: tuple[Operation, ...] = ()

    @property
    def batches(self) -> tuple[tuple[MachineProgram, ...], ...]:
        """The tests alone, then the targets, all at once: a batch starts when one passed."""
        if self.gate is None:
            return (self.targets,)
        return ((self.gate,), self.targets)

    @property
    def reverts(self) -> dict[str, tuple[Operation, ...]]:
        """Nothing undoes a build: its droplet's destruction is in its own program."""
        return {}

    @property
    def batch_wait(self) -> float:
        """No wait: there is one batch."""
        return 0.0

    def target(self, name: str) -> TargetPlan:
        """The target called ``name`` (the plan's operations name only its own)."""
        return next(target for target in self.targets if target.name == name)

    @property
    def droplets(self) -> tuple[Machine, ...]:
        """The droplets this run creates, the tests' first (none for static hosts)."""
        programs = [program for batch in self.batches for program in batch]
        return tuple(p.machine for p in programs if p.machine.kind == "droplet")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view of the plan (``--json``): every operation with its kind."""
        data = asdict(self)
        data["before"] = [operation_dict(op) for op in self.before]
        if self.gate is not None:
            data["gate"]["operations"] = [operation_dict(op) for op in self.gate.operations]
        data["after"] = [operation_dict(op) for op in self.after]
        for target, planned in zip(data["targets"], self.targets, strict=True):
            target["operations"] = [operation_dict(op) for op in planned.operations]
        data["droplets"] = [asdict(machine) for machine in self.droplets]
        return data


def run_tag(tag_prefix: str, run_id: str) -> str:
    """The droplet tag that marks one run."""
    return f"{tag_prefix}-run-{run_id}"


def droplet_name(tag_prefix: str, project: str, target: str, run_id: str) -> str:
    """The deterministic droplet name of ``target`` in run ``run_id``."""
    return _DROPLET_NAME_UNSAFE.sub("-", f"{tag_prefix}-{project}-{target}-{run_id}")


def make_plan(
    inventory: Inventory,
    release: Release,
    revision: Revision,
    run_id: str,
    options: PlanOptions | None = None,
) -> Plan:
    """Plan a release of ``release``, built from ``revision``, as run ``run_id``; pure."""
    chosen = options or PlanOptions()
    cloud = inventory.cloud
    tool_tag = cloud.tag_prefix
    tag_of_run = run_tag(tool_tag, run_id)
    source_archive = f".orchestrator/runs/{run_id}/{commands.SOURCE_ARCHIVE}"
    targets = [
        _target_plan(
            inventory,
            release,
            revision,
            run_id,
            target,
            _machine(inventory, run_id, target.name, target),
            source_archive,
        )
        for target in inventory.targets
    ]
    tests = None if chosen.skip_tests else inventory.tests
    # A release of images only has no repository to index or publish.
    packaged = any(target.format != "image" for target in inventory.targets)
    publish = tuple(config.name for config in inventory.publish) if packaged else ()
    return Plan(
        run_id=run_id,
        project=inventory.project.name,
        tag=release.tag,
        ref=revision.ref,
        commit=revision.commit,
        version=release.package_version,
        channel=release.channel.value,
        provider=cloud.provider,
        tool_tag=tool_tag,
        run_tag=tag_of_run,
        max_droplets=cloud.max_droplets,
        fail_fast=inventory.fail_fast,
        source_archive=source_archive,
        cleanup_timeout=cloud.destroy_timeout,
        before=_before(inventory, revision, chosen, publish, source_archive),
        gate=None
        if tests is None
        else _gate_plan(inventory, release, revision, run_id, tests, source_archive),
        tests_skipped=chosen.skip_tests and inventory.tests is not None,
        targets=tuple(targets),
        after=_after(inventory, release, chosen, publish, packaged=packaged),
    )


def _machine(
    inventory: Inventory, run_id: str, name: str, wants: BuildTarget | ReleaseTests
) -> Machine:
    """Where program ``name`` runs: the static host it ``wants``, or a droplet for the run."""
    cloud = inventory.cloud
    if cloud.provider == "static":
        hosts = {host.name: host for host in cloud.hosts}
        return _static_machine(hosts[wants.host or ""])
    tool_tag = cloud.tag_prefix
    return Machine(
        kind="droplet",
        name=droplet_name(tool_tag, inventory.project.name, name, run_id),
        region=cloud.region,
        size=wants.size or cloud.size,
        image=wants.image or cloud.image,
        tags=(tool_tag, run_tag(tool_tag, run_id)),
        port=cloud.sandbox.ssh_port if cloud.sandbox else cloud.ssh_port,
        user=cloud.ssh_user,
        network=cloud.network,
        vpc_uuid=cloud.vpc_uuid,
    )


def _before(
    inventory: Inventory,
    revision: Revision,
    chosen: PlanOptions,
    publish: tuple[str, ...],
    source_archive: str,
) -> tuple[Operation, ...]:
    """The run-wide operations before the builds: lock, key, what is served, the source."""
    before: list[Operation] = [
        TakeReleaseLock(timeout=chosen.lock_wait, path=RELEASE_LOCK),
        CheckSigningKey(timeout=60.0),
    ]
    if publish or inventory.image_targets:
        before.append(CheckTargets(timeout=300.0, targets=publish))
    before.append(
        ExportSource(
            timeout=600.0,
            command=commands.source_archive(
                str(inventory.project.source), revision.commit, source_archive
            ),
            commit=revision.commit,
            output=source_archive,
        )
    )
    return tuple(before)


def _after(
    inventory: Inventory,
    release: Release,
    chosen: PlanOptions,
    publish: tuple[str, ...],
    *,
    packaged: bool,
) -> tuple[Operation, ...]:
    """The run-wide operations after the builds: index, images, publishes, tags, checks, hooks."""
    after: list[Operation] = [Index(timeout=0.0, channel=release.channel.value)] if packaged else []
    # Images go first: a failed push leaves every repository as it was.
    after += _image_pushes(inventory, release)
    after += [Publish(timeout=chosen.lock_wait, target=name) for name in publish]
    # After the publishes, as the issue asks: the repositories are out whatever the index says.
    after += _python_upload(inventory, release)
    after += _image_tags(inventory, release)
    if chosen.verify and (publish or inventory.image_targets):
        after.append(
            Verify(timeout=0.0, version=release.package_version, channel=release.channel.value)
        )
    after += [
        RunHook(timeout=inventory.hooks.timeout, number=number, command=command)
        for number, command in enumerate(inventory.hooks.after_publish, start=1)
    ]
    return tuple(after)


def _python_upload(inventory: Inventory, release: Release) -> list[Operation]:
    """One upload of every target's Python distributions, if any target builds some."""
    targets = tuple(t.name for t in inventory.targets if t.python_artifacts)
    if not targets or inventory.python_index is None:
        return []
    return [
        UploadPython(
            timeout=0.0,
            index=inventory.python_index.url,
            project=inventory.project.name,
            version=pep440_version(release),
            targets=targets,
        )
    ]


def pep440_version(release: Release) -> str:
    """The release's PEP 440 version; UsageError when its pre-release has none."""
    version = python_version(release)
    if version is None:
        raise UsageError(
            f"{release.tag}'s pre-release {release.prerelease!r} has no PEP 440 form for the "
            "Python distributions: tag with alpha.N, beta.N, rc.N or dev.N"
        )
    return version


def _image_pushes(inventory: Inventory, release: Release) -> list[Operation]:
    """Each platform's image by digest, then one index per repository under the version tag."""
    pushes: list[Operation] = [
        PushImage(
            timeout=0.0,
            target=target.name,
            repository=container.repository,
            tag=release.semver,
            platform=f"linux/{target.arch}",
        )
        for target, container in _images(inventory)
    ]
    pushes += [
        PushIndex(
            timeout=0.0,
            repository=repository,
            tag=release.semver,
            targets=tuple(target.name for target in targets),
            platforms=tuple(f"linux/{target.arch}" for target in targets),
        )
        for repository, targets in inventory.image_repositories.items()
    ]
    return pushes


def _image_tags(inventory: Inventory, release: Release) -> list[Operation]:
    """On a plain release, the extra tags move last, once everything else is out."""
    if release.channel is not Channel.STABLE:
        return []
    # The inventory gives the image targets of a repository the same tags.
    return [
        _tag_image(repository, first.name, first.container.tags, release)
        for repository, (first, *_) in inventory.image_repositories.items()
        if first.container is not None and first.container.tags
    ]


def _images(inventory: Inventory) -> list[tuple[BuildTarget, ContainerImage]]:
    return [(t, t.container) for t in inventory.image_targets if t.container is not None]


def _tag_image(repository: str, target: str, templates: list[str], release: Release) -> TagImage:
    """Moving the extra tags ``target``'s container lists (``templates``) to the index."""
    return TagImage(
        timeout=0.0,
        repository=repository,
        version=release.semver,
        tags=tuple(
            moved_tag(template, release, f"targets.{target}.container.tags[{n}]")
            for n, template in enumerate(templates)
        ),
        templates=tuple(templates),
    )


def moved_tag(template: str, release: Release, where: str) -> str:
    """One extra tag a plain release moves, rendered; UsageError for an unusable one.

    A tag that reads as a release version would pass for another release, so it is refused.
    """
    variables = {
        "major": str(release.major),
        "minor": str(release.minor),
        "patch": str(release.patch),
    }
    tag = render_template(template, variables, where, "an image tag")
    if not IMAGE_TAG.fullmatch(tag):
        raise UsageError(f"{where} renders to {tag[:60]!r}, which is not an image tag")
    if is_semver(tag):
        raise UsageError(
            f"{where} renders to {tag!r}, a release version: only the release's "
            "own push may write a version tag"
        )
    return tag


def moved_tags(templates: list[str], release: Release, where: str) -> tuple[str, ...]:
    """The extra tags a plain release moves (``where[N]`` names each), each once."""
    return tuple(
        dict.fromkeys(
            moved_tag(template, release, f"{where}[{number}]")
            for number, template in enumerate(templates)
        )
    )


def _static_machine(host: StaticHost) -> Machine:
    return Machine(
        kind="static", name=host.name, address=host.address, port=host.port, user=host.user
    )


def build_variables(
    inventory: Inventory, release: Release, revision: Revision, run_id: str, target: BuildTarget
) -> dict[str, str]:
    """The variables a build command sees: ``BUILD_VARIABLES``, templates' and environment's."""
    return {
        "project": inventory.project.name,
        "tag": release.tag,
        "commit": revision.commit,
        "version": release.package_version,
        "channel": release.channel.value,
        "arch": target.arch,
        "rpm_arch": RPM_ARCH[target.arch],
        "format": target.format,
        "target": target.name,
        "run_id": run_id,
        # Empty where the pre-release has no PEP 440 form (a plan with Python refuses it).
        "python_version": python_version(release) or "",
    }


def _target_plan(
    inventory: Inventory,
    release: Release,
    revision: Revision,
    run_id: str,
    target: BuildTarget,
    machine: Machine,
    source_archive: str,
) -> TargetPlan:
    variables = build_variables(inventory, release, revision, run_id, target)
    environment = {key.upper(): value for key, value in variables.items()}
    workdir = commands.workdir_for(run_id, target.name)
    globs = (*target.artifacts, *target.extra_artifacts, *target.python_artifacts)
    host = machine.name
    transfer = STEP_TIMEOUT + target.limits.bundle_bytes / TRANSFER_BYTES_PER_SECOND
    operations = _setup(inventory, machine, workdir, source_archive)
    if target.command is not None:
        command = render_template(
            target.command, variables, f"targets.{target.name}.command", "a build command"
        )
        # The host's own timeout stops the build; the channel's gives it a little longer.
        operations.append(
            RemoteCommand(
                timeout=target.timeout + CHANNEL_GRACE,
                stage="build",
                host=host,
                command=_runnable(
                    commands.build(workdir, command, environment, target.timeout),
                    f"targets.{target.name}.command",
                ),
                logged=True,
            )
        )
    if target.container is not None:
        globs = (commands.IMAGE_ARCHIVE,)
        operations.append(
            RemoteCommand(
                timeout=target.timeout + CHANNEL_GRACE,
                stage="image",
                host=host,
                command=commands.image_build(
                    workdir,
                    dockerfile=target.container.dockerfile,
                    context=target.container.context,
                    platform=f"linux/{target.arch}",
                    labels={
                        VERSION_LABEL: release.semver,
                        REVISION_LABEL: revision.commit,
                        TITLE_LABEL: target.container.repository,
                        RUN_LABEL: run_id,
                    },
                    timeout=target.timeout,
                ),
                logged=True,
            )
        )
    operations += [
        RemoteCommand(
            timeout=STEP_TIMEOUT,
            stage="collect",
            host=host,
            command=commands.collect(workdir, globs),
        ),
        FetchArtifacts(
            timeout=transfer,
            host=host,
            command=commands.fetch_bundle(workdir),
            destination=f".orchestrator/runs/{run_id}/artifacts/{target.name}",
        ),
    ]
    operations += _teardown(inventory, machine, workdir)
    return TargetPlan(
        name=target.name,
        arch=target.arch,
        rpm_arch=RPM_ARCH[target.arch],
        format=target.format,
        machine=machine,
        workdir=workdir,
        timeout=target.timeout,
        artifacts=tuple(target.artifacts),
        extra_artifacts=tuple(target.extra_artifacts),
        python_artifacts=tuple(target.python_artifacts),
        environment=environment,
        operations=tuple(operations),
        accepted=Accepted(
            names=inventory.package_names(target),
            arch_independent=tuple(target.arch_independent),
            epoch=inventory.project.epoch,
            version=release.package_version,
            image_version=release.semver,
            python_name=inventory.project.name,
            python_version=pep440_version(release) if target.python_artifacts else "",
        ),
        limits=Limits(
            bundle_bytes=target.limits.bundle_bytes,
            unpacked_bytes=target.limits.unpacked_bytes,
            files=target.limits.files,
            log_bytes=target.limits.log_bytes,
        ),
    )


def _setup(
    inventory: Inventory, machine: Machine, workdir: str, source_archive: str
) -> list[Operation]:
    """Get the machine, and the release's source unpacked in an empty work directory on it."""
    host = machine.name
    provision_timeout = (
        inventory.cloud.boot_timeout if machine.kind == "droplet" else CONNECT_TIMEOUT
    )
    remote_archive = f"{workdir}/{commands.SOURCE_ARCHIVE}"
    return [
        Provision(timeout=provision_timeout, machine=machine),
        RemoteCommand(
            timeout=STEP_TIMEOUT, stage="prepare", host=host, command=commands.prepare(workdir)
        ),
        Upload(timeout=STEP_TIMEOUT, host=host, source=source_archive, destination=remote_archive),
        RemoteCommand(
            timeout=STEP_TIMEOUT, stage="unpack", host=host, command=commands.unpack(workdir)
        ),
    ]


def _teardown(inventory: Inventory, machine: Machine, workdir: str) -> list[Operation]:
    """Let the machine go, whatever happened: a static host clean, a droplet destroyed."""
    operations: list[Operation] = []
    if machine.kind == "static":
        # Static hosts outlive the run: leave nothing behind.
        operations.append(
            RemoteCommand(
                timeout=60.0,
                cleanup=True,
                stage="cleanup",
                host=machine.name,
                command=commands.cleanup(workdir),
            )
        )
    operations.append(
        ReleaseMachine(timeout=inventory.cloud.destroy_timeout, cleanup=True, machine=machine)
    )
    return operations


def _runnable(command: str, where: str) -> str:
    """``command``, if a build host's shell can take it; else UsageError naming ``where``.

    Quoting multiplies what a command's quotes take: a command the inventory accepts can
    come out longer than one argument may be, which the host would refuse with E2BIG only
    after its droplet was paid for.
    """
    size = len(command.encode())
    if size > commands.MAX_REMOTE_COMMAND_BYTES:
        raise UsageError(
            f"{where}: quoted to run on the build host it takes {size} bytes, over the "
            f"{commands.MAX_REMOTE_COMMAND_BYTES} a shell takes in one argument: move it "
            "into a script in the source tree"
        )
    return command


def _gate_plan(
    inventory: Inventory,
    release: Release,
    revision: Revision,
    run_id: str,
    tests: ReleaseTests,
    source_archive: str,
) -> GatePlan:
    """The tests' program: the source on their machine, the commands, the machine let go."""
    machine = _machine(inventory, run_id, TESTS, tests)
    workdir = commands.workdir_for(run_id, TESTS)
    # What a test may know of the release; the machine never sees a secret.
    environment = {
        "PROJECT": inventory.project.name,
        "TAG": release.tag,
        "COMMIT": revision.commit,
        "VERSION": release.package_version,
        "CHANNEL": release.channel.value,
        "RUN_ID": run_id,
    }
    operations = _setup(inventory, machine, workdir, source_archive)
    operations.append(
        RemoteCommand(
            timeout=tests.timeout + CHANNEL_GRACE,
            stage="test",
            host=machine.name,
            command=_runnable(
                commands.tests(workdir, tests.commands, environment, tests.timeout),
                "tests.commands",
            ),
            logged=True,
        )
    )
    operations += _teardown(inventory, machine, workdir)
    return GatePlan(
        name=TESTS,
        machine=machine,
        workdir=workdir,
        timeout=tests.timeout,
        commands=tuple(tests.commands),
        environment=environment,
        log_bytes=TESTS_LOG_BYTES,
        operations=tuple(operations),
    )
