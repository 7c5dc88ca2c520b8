"""What an environment puts on its hosts, and how: the packages with apt, or images with Compose.

An environment runs a set of services (:class:`Service`): the project's packages, or the
images of a Compose project, the project's and third parties'. The rest of a deploy (the
survey, the lock, the batches, the health checks, the records, promotion, rollback and
status) is the same for both; only these differ: how a host is read, which released
versions are offered, how a version is put on a host, and how a host goes back. Pure: the
commands are strings, run by the deploy's handlers.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.commands import compose as compose_commands
from orchestrator.commands import deploy as commands
from orchestrator.commands.compose import ComposeTarget, ImageSlot, Pull
from orchestrator.commands.deploy import HostFiles, host_files
from orchestrator.config.environments import Environment, HealthCheck
from orchestrator.config.inventory import Inventory
from orchestrator.deploy import compose
from orchestrator.deploy.hoststate import HostState, parse_host_state, shared_version
from orchestrator.deploy.sets import Groups, grouped_version, set_versions
from orchestrator.errors import DeployError
from orchestrator.semver import semver_of_package

# Seconds for restarting units, and for each step of going back.
RESTART_TIMEOUT = 60.0
REVERT_STEP_TIMEOUT = 300.0


@dataclass(frozen=True)
class Step:
    """One command of a host's program: its stage name, the command, its timeout."""

    stage: str
    command: str
    timeout: float


@dataclass(frozen=True)
class Service:
    """One service of an environment: what it puts on a host, the version it runs, its check.

    ``reference`` is an image as hosts pull it (``REGISTRY/REPOSITORY``; "" for
    packages); ``ours`` says whether it is one of the project's own, which follow its
    releases and carry its version label.
    """

    name: str
    components: tuple[str, ...]
    version: str
    prereleases: bool = False
    health: HealthCheck | None = None
    track: str | None = None
    reference: str = ""
    ours: bool = True
    tag_variable: str | None = None


@dataclass(frozen=True)
class Payload(ABC):
    """How one environment's version reaches a host (see the module docstring)."""

    environment: Environment
    services: tuple[Service, ...]

    @property
    def components(self) -> tuple[str, ...]:
        """What the environment puts on a host: its packages, or its Compose services."""
        return tuple(c for service in self.services for c in service.components)

    @property
    def names(self) -> tuple[str, ...]:
        """The services' names, in the inventory's order."""
        return tuple(service.name for service in self.services)

    @property
    def groups(self) -> Groups:
        """Each service's components when there are several (a host then runs a set)."""
        if len(self.services) == 1:
            return ()
        return tuple((service.name, service.components) for service in self.services)

    def service(self, name: str) -> Service:
        """The service called ``name``."""
        return next(service for service in self.services if service.name == name)

    @property
    @abstractmethod
    def units(self) -> tuple[str, ...]:
        """What must be active on a host that runs the version."""

    @property
    @abstractmethod
    def source(self) -> str:
        """Where the versions come from, in words, for errors."""

    @property
    def uses_sources(self) -> bool:
        """Whether the hosts need the project's apt source before a deploy."""
        return False

    @abstractmethod
    def release_offered(self, installed: str, epoch: int | None) -> str | None:
        """The release (semver) an offered version is, None when it is none of the project's."""

    @abstractmethod
    def inspect(self, files: HostFiles) -> str:
        """The command that reads a host in one round trip."""

    @abstractmethod
    def parse(self, host: str, output: str) -> HostState:
        """What :meth:`inspect` printed, as the host's state."""

    @abstractmethod
    def put(self, installed: str, image_ids: Mapping[str, tuple[str, ...]]) -> tuple[Step, ...]:
        """The steps that put ``installed`` on a host (the first one changes it).

        ``image_ids`` are, per component (Compose only), the ids of the image the registry
        serves as its version for the hosts' platform: its config's digest, and the
        digests of its manifest and of the index naming it, as hosts' image stores name it.
        """

    @abstractmethod
    def revert(self, before: Mapping[str, str]) -> tuple[Step, ...]:
        """The steps that put back what a host ran (``before``: component -> version)."""

    def forget(self) -> str | None:
        """The command that drops what a deploy kept on a host to go back, once it ended."""
        return None

    @abstractmethod
    def describe_revert(self) -> str:
        """The revert, in words, for the plan."""

    def release_of(self, installed: str) -> str | None:
        """The release an installed version is, as this environment's hosts read it."""
        return self.release_offered(installed, None)

    def previous_release(self, before: Mapping[str, str]) -> str | None:
        """The release a host ran before a deploy touched it (None: none, or mixed)."""
        if self.groups:
            return grouped_version(before, self.groups, self.release_of)
        previous = shared_version(before, self.components)
        return self.release_of(previous) if previous is not None else None


@dataclass(frozen=True)
class Packages(Payload):
    """The project's packages, from its signed apt repository, and their systemd units."""

    @property
    def packages(self) -> tuple[str, ...]:
        """The packages installed."""
        return self.components

    @property
    def units(self) -> tuple[str, ...]:
        """The units restarted after the install."""
        return tuple(self.environment.units)

    @property
    def source(self) -> str:
        """The environment's channels."""
        return f"in channels {', '.join(self.environment.channels)}"

    @property
    def uses_sources(self) -> bool:
        """Always: apt installs from the project's source."""
        return True

    def release_offered(self, installed: str, epoch: int | None) -> str | None:
        """A package version of the project's epoch, as a release.

        A package version with another epoch is not one of its releases (an epoch outranks
        every version without it): it is never offered.
        """
        head, colon, _ = installed.partition(":")
        stated = int(head) if colon and head.isdigit() else (0 if not colon else -1)
        # Epoch 0 is no epoch, in dpkg and rpm alike.
        return semver_of_package(installed) if stated == (epoch or 0) else None

    def release_of(self, installed: str) -> str | None:
        """A package version as a release, whatever its epoch."""
        return semver_of_package(installed)

    def inspect(self, files: HostFiles) -> str:
        """dpkg-query, systemctl is-active and the records."""
        return commands.inspect(files, self.packages, self.units)

    def parse(self, host: str, output: str) -> HostState:
        """Packages, units and records."""
        return parse_host_state(host, output, self.units)

    def put(self, installed: str, image_ids: Mapping[str, tuple[str, ...]]) -> tuple[Step, ...]:
        """apt-get install the version, then restart the units."""
        steps = [
            Step(
                "install",
                commands.install(self.packages, installed),
                self.environment.install_timeout,
            )
        ]
        if self.units:
            steps.append(Step("restart", commands.restart(self.units), RESTART_TIMEOUT))
        return tuple(steps)

    def revert(self, before: Mapping[str, str]) -> tuple[Step, ...]:
        """Settle dpkg, reinstall what ran, remove what did not, restart."""
        # A deploy hung up mid-install may have left dpkg half-way: finish that first.
        steps = [Step("settle", commands.settle_dpkg(), REVERT_STEP_TIMEOUT)]
        if before:
            steps.append(Step("reinstall", commands.install_versions(before), REVERT_STEP_TIMEOUT))
        absent = [p for p in self.packages if p not in before]
        if absent:
            steps.append(Step("remove", commands.remove(absent), REVERT_STEP_TIMEOUT))
        if self.units and before:
            steps.append(Step("restart", commands.restart(self.units), RESTART_TIMEOUT))
        return tuple(steps)

    def describe_revert(self) -> str:
        """apt-get install of what ran before, or dpkg --remove."""
        packages = " ".join(f"{p}=<the version it ran before>" for p in self.packages)
        restart = f", restart {' '.join(self.units)}" if self.units else ""
        return (
            f"apt-get install --allow-downgrades {packages}{restart} (nothing was installed "
            "before: dpkg --remove)"
        )


@dataclass(frozen=True)
class Compose(Payload):
    """Images run by the services of a Compose project on each host: one, or a set.

    ``files`` are the tool's on the hosts, where a deploy keeps what it changed.
    """

    files: HostFiles

    @property
    def project(self) -> ComposeTarget:
        """The Compose project and the image of each service, where each tag goes."""
        compose = self.environment.compose
        assert compose is not None  # the inventory checks it
        slots = tuple(
            ImageSlot(service.reference, service.components, service.tag_variable)
            for service in self.services
        )
        return ComposeTarget(compose.directory, slots, compose.override_file)

    @property
    def reference(self) -> str:
        """The first service's image as hosts pull it (the one image, without services)."""
        return self.services[0].reference

    @property
    def units(self) -> tuple[str, ...]:
        """The services again: each one's container must be running."""
        return self.components

    @property
    def source(self) -> str:
        """The registry's repositories."""
        return f"as tags of {', '.join(service.reference for service in self.services)}"

    def release_offered(self, installed: str, epoch: int | None) -> str | None:
        """A tag that is a semver version (``latest`` or ``1.2`` never is)."""
        return compose.release_of_tag(installed)

    def inspect(self, files: HostFiles) -> str:
        """Docker inspect of each service's container, and the records."""
        return compose_commands.inspect(files, self.project)

    def parse(self, host: str, output: str) -> HostState:
        """Tags, container states, image ids and records."""
        expected = {c: s.reference for s in self.services for c in s.components}
        state = compose.parse_state(host, output, expected)
        return dataclasses.replace(state, groups=self.groups)

    def put(self, installed: str, image_ids: Mapping[str, tuple[str, ...]]) -> tuple[Step, ...]:
        """Save the tags' file, set every tag, pull, check each image, replace the containers."""
        versions = set_versions(installed, self.names)
        if versions is None:
            raise DeployError(f"{installed!r} is not a version of {', '.join(self.names)}")
        pulls = []
        for service, slot in zip(self.services, self.project.slots, strict=True):
            ids = image_ids.get(service.components[0], ())
            if not ids:
                where = f"{service.reference}:{versions[service.name]}"
                raise DeployError(f"no image of {where} to check the pull against")
            pulls.append(Pull(slot, versions[service.name], ids))
        command = compose_commands.put(self.project, self.files, self.environment.name, pulls)
        return (Step("compose-up", command, self.environment.install_timeout),)

    def revert(self, before: Mapping[str, str]) -> tuple[Step, ...]:
        """Restore the saved file and the containers as they were (the host kept both)."""
        command = compose_commands.revert(self.project, self.files, self.environment.name)
        return (Step("compose-back", command, self.environment.install_timeout),)

    def describe_revert(self) -> str:
        """The saved file put back, the containers up again (none before: removed)."""
        project = self.project
        services = " ".join(project.services)
        return (
            f"put back the {compose_commands.file_of(project)} saved before the deploy, up -d "
            f"--no-deps {services} (a service that had no container: rm -s -f)"
        )

    def forget(self) -> str | None:
        """Remove the saved file."""
        return compose_commands.forget(self.files, self.environment.name)


def payload_of(inventory: Inventory, environment: Environment) -> Payload:
    """What ``environment`` puts on its hosts: its packages, or its Compose services' images.

    An image is named as hosts pull it: its registry's ``host[:port]`` (the service's own,
    else the inventory's), then its repository.
    """
    if environment.compose is not None:
        return Compose(environment, compose_services(inventory, environment), host_files(inventory))
    assert environment.version is not None  # required of a packages environment
    service = Service(
        inventory.project.name, inventory.packages_of(environment), environment.version,
        environment.prereleases, environment.health, environment.track,
    )  # fmt: skip
    return Packages(environment, (service,))


def compose_services(inventory: Inventory, environment: Environment) -> tuple[Service, ...]:
    """A Compose environment's services as a deploy handles them."""
    ours = set(inventory.image_repositories)
    default = urllib.parse.urlsplit(inventory.registry.url).netloc if inventory.registry else ""
    services = []
    for image in environment.image_services:
        registry = urllib.parse.urlsplit(image.registry.url).netloc if image.registry else default
        services.append(
            Service(
                image.name, image.containers, image.version, image.prereleases, image.health,
                image.track, f"{registry}/{image.image}",
                ours=image.registry is None and image.image in ours,
                tag_variable=image.tag_variable,
            )
        )  # fmt: skip
    return tuple(services)
