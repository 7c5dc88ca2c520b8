"""The inventory's ``environments``: where released versions run, and how they get there.

An environment of ``kind: packages`` (the default) installs the project's packages with
apt; one of ``kind: compose`` runs the project's container image in a Compose project on
each host (``compose``), or a set of ``services``: images of the project's and third
parties', each with its own version, moved as one. Either names its hosts (listed with pinned host keys, or selected by DigitalOcean
droplet tag with their keys from a ``known_hosts`` file: a key is never trusted on first
use), the packages it installs and the units it restarts, the version it runs (a pin or an
npm-style range), the channels it installs from, the environment it is promoted from, and
how a rollout goes (batches, health check). Cross-references (``from``, hosts named twice,
channels and packages the project has) are checked by :class:`orchestrator.config.inventory.Inventory`.
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from orchestrator.config.schema import (
    DAY,
    ENV_NAME_PATTERN,
    LOGIN_PATTERN,
    REPOSITORY_PATTERN,
    SANDBOX_HOST_KEY,
    Arch,
    Become,
    ChannelName,
    Model,
    Name,
    Network,
    PackageName,
    host_key_line,
    is_loopback,
    is_loopback_ipv4,
)
from orchestrator.semver import RangeError, is_semver, package_version_of, parse_range

UNIT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9@._\\-]{0,200}\.(service|socket|target|timer)$"
DROPLET_TAG_PATTERN = r"^[A-Za-z0-9_:\-]{1,255}$"
# A host named by address must be an address or a DNS name: nothing a shell or ssh would
# read as an option.
_ADDRESS = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:-]{0,252}")
UnitName = Annotated[str, Field(pattern=UNIT_PATTERN)]
# Compose's own rule for service names, and a shell variable's for the tag's.
ServiceName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")]
# The override files Compose reads beside the project's file without being told.
OVERRIDE_FILES = (
    "compose.override.yaml", "compose.override.yml",
    "docker-compose.override.yaml", "docker-compose.override.yml",
)  # fmt: skip
EnvironmentKind = Literal["packages", "compose"]
# Variables Compose or the shell read themselves: a tag there would change how the
# project is found or run, not which image it runs.
_RESERVED_VARIABLES = re.compile(
    r"(COMPOSE|DOCKER|BUILDKIT)_.*|PATH|HOME|USER|SHELL|PWD|IFS|LANG|TERM|TMPDIR|LD_.*"
)
# Directories no Compose project belongs in: shared scratch space anyone may write to,
# and the system's own.
_SYSTEM_DIRECTORIES = (
    "/tmp",
    "/var/tmp",
    "/dev",
    "/proc",
    "/sys",
    "/run",
    "/etc",
    "/boot",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
)


def own_variable(value: str | None) -> str | None:
    """``value`` unless it is a variable Compose or the shell reads themselves."""
    if value is not None and _RESERVED_VARIABLES.fullmatch(value):
        raise ValueError(
            f"{value} is read by Compose or the shell: name a variable of the project's"
        )
    return value


def checked_range(value: str) -> str:
    """``value`` if it is a pin or an npm-style range; ValueError saying why not."""
    try:
        parse_range(value)
    except RangeError as error:
        raise ValueError(str(error)) from None
    return value


class Login(Model):
    """Who the deploy logs in as, and how it acts as root when that is another user.

    Installing packages, restarting services and running Docker is root's work: a user
    other than root needs ``become: sudo``, and then every command that needs root runs
    as ``sudo -n /bin/sh -c COMMAND`` (the health check's command runs as the user).
    """

    user: str = Field(default="root", pattern=LOGIN_PATTERN)
    become: Become | None = Field(
        default=None, description="sudo: run what needs root through sudo -n (user not root)."
    )

    @model_validator(mode="after")
    def _root_or_become(self) -> Login:
        if self.user == "root" and self.become is not None:
            raise ValueError("user root needs no 'become': drop it, or log in as another user")
        if self.user != "root" and self.become is None:
            raise ValueError(
                f"user {self.user!r} is not root, and a deploy installs, restarts and writes as "
                "root: add 'become: sudo' (invoke env.sudoers prints the sudoers lines)"
            )
        return self


class ServerHost(Login):
    """A server listed in the inventory, reached over SSH with a pinned host key.

    ``host_key: sandbox`` names a server the sandbox boots (``cloud.sandbox``) at this
    loopback address; its key and the client key are read from the sandbox.
    """

    name: Name
    address: str = Field(description="IP address or DNS name.")
    port: int = Field(default=22, ge=1, le=65535)
    host_key: str = Field(
        description="The host's public key line ('ssh-ed25519 AAAA...'), pinned; 'sandbox' "
        "for a sandbox server."
    )
    identity_file: Path | None = Field(
        default=None, description="Private key to log in with; default: the SSH agent."
    )

    @field_validator("address")
    @classmethod
    def _address_shape(cls, value: str) -> str:
        if not _ADDRESS.fullmatch(value):
            raise ValueError(f"expected an IP address or a DNS name, got {value[:60]!r}")
        return value

    @field_validator("host_key")
    @classmethod
    def _host_key_shape(cls, value: str) -> str:
        return value if value == SANDBOX_HOST_KEY else host_key_line(value)

    @model_validator(mode="after")
    def _sandbox_on_loopback(self) -> ServerHost:
        if self.host_key == SANDBOX_HOST_KEY and not is_loopback_ipv4(self.address):
            raise ValueError(
                f"host {self.name!r}: a sandbox server ('host_key: sandbox') needs an "
                f"address in 127.0.0.0/8, got {self.address!r}"
            )
        return self


class TaggedHosts(Login):
    """Every droplet with a tag, its host key read from a ``known_hosts`` file.

    Each droplet is reached on its address on ``network``: public, or private (its VPC
    address, from a machine inside the same VPC); ``known_hosts`` pins that address.
    """

    droplet_tag: str = Field(pattern=DROPLET_TAG_PATTERN)
    known_hosts: Path = Field(description="known_hosts file with every droplet's key.")
    port: int = Field(default=22, ge=1, le=65535)
    network: Network = Field(
        default="public", description="The droplets' address to reach: public or private."
    )
    identity_file: Path | None = None


class HttpCheck(Model):
    """An HTTP GET from the orchestrator; ``url`` and ``contains`` are templates."""

    url: str = Field(
        max_length=2048,
        description="e.g. http://{{ address }}:8080/health (variables: host, address, "
        "version, environment).",
    )
    status: int = Field(default=200, ge=100, le=599)
    contains: str | None = Field(
        default=None, max_length=1024, description="Text the body must contain, e.g. {{ version }}."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value[:60]!r}")
        return value


class HealthCheck(Model):
    """How a host proves it runs the version: an HTTP check or a command on the host."""

    http: HttpCheck | None = None
    command: str | None = Field(
        default=None, max_length=4096, description="Run on the host; exit 0 is healthy."
    )
    interval: float = Field(default=1.0, gt=0, le=3600, description="Seconds between attempts.")
    timeout: float = Field(default=5.0, gt=0, le=3600, description="Seconds per attempt.")
    attempts: int = Field(default=10, ge=1, le=1000)

    @model_validator(mode="after")
    def _one_check(self) -> HealthCheck:
        if (self.http is None) == (self.command is None):
            raise ValueError("give exactly one of 'http' and 'command'")
        return self


def health_variables(host: str, address: str, version: str, environment: str) -> dict[str, str]:
    """What a health check template may use: the version as released and as packaged."""
    return {
        "host": host,
        "address": address,
        "version": version,
        "package_version": package_version_of(version) if is_semver(version) else version,
        "environment": environment,
    }


class ComposeProject(Model):
    """Where a ``kind: compose`` environment runs its images, and how their tags are set.

    A tag goes into the project's ``.env`` (a ``tag_variable``, which its compose file
    uses as ``image: REGISTRY/REPOSITORY:${VARIABLE}``) or into an override file the tool
    owns (``override_file``, one Compose reads by itself), never into the project's own
    compose file. With the environment's ``services`` each service says its image and
    variable, and the project only where it is (and the override file); without them the
    project runs the project's one ``image``.
    """

    image: str | None = Field(
        default=None,
        pattern=f"^{REPOSITORY_PATTERN}$",
        max_length=200,
        description="The repository of one of the project's image targets (without services).",
    )
    directory: str = Field(
        pattern=r"^/[A-Za-z0-9._/-]{1,200}$",
        description="The Compose project's directory on the hosts (absolute).",
    )
    services: list[ServiceName] = Field(
        default_factory=list, description="The Compose services to update (with image)."
    )
    tag_variable: str | None = Field(
        default=None, pattern=r"^[A-Z_][A-Z0-9_]{0,63}$", description="Set in .env."
    )
    override_file: str | None = Field(
        default=None, description=f"Written by the tool: one of {', '.join(OVERRIDE_FILES)}."
    )

    @field_validator("directory")
    @classmethod
    def _plain_directory(cls, value: str) -> str:
        value = value.rstrip("/")
        if not value or any(part in ("", ".", "..") for part in value.split("/")[1:]):
            raise ValueError(f"expected a plain absolute path, got {value[:60]!r}")
        if any(value == top or value.startswith(f"{top}/") for top in _SYSTEM_DIRECTORIES):
            raise ValueError(
                f"{value[:60]!r} is a system or shared directory: keep the project in a "
                "directory of its own, such as /srv/NAME"
            )
        return value

    @field_validator("tag_variable")
    @classmethod
    def _own_variable(cls, value: str | None) -> str | None:
        return own_variable(value)

    @field_validator("override_file")
    @classmethod
    def _read_by_compose(cls, value: str | None) -> str | None:
        if value is not None and value not in OVERRIDE_FILES:
            raise ValueError(
                f"Compose reads only {', '.join(OVERRIDE_FILES)} without being told, not "
                f"{value[:60]!r}"
            )
        return value

    @model_validator(mode="after")
    def _one_way(self) -> ComposeProject:
        if self.image is None:
            if self.services or self.tag_variable is not None:
                raise ValueError(
                    "'services' and 'tag_variable' go with 'image'; with the environment's "
                    "services, each service names its compose_services and tag_variable"
                )
            return self
        if not self.services:
            raise ValueError("'image' needs 'services': the Compose services that run it")
        if (self.tag_variable is None) == (self.override_file is None):
            raise ValueError("give exactly one of 'tag_variable' and 'override_file'")
        if len(set(self.services)) != len(self.services):
            raise ValueError("a service is listed twice")
        return self


class ServiceRegistry(Model):
    """Where a third-party image's tags are read: a registry other than the inventory's.

    The hosts pull from it with their own login (or none, for public images); the tool
    reads its tags and digests with the login in ``username_env`` and ``password_env``,
    or none when neither is given.
    """

    url: str = Field(
        pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$",
        description="e.g. https://registry-1.docker.io; plain http only on 127.0.0.0/8.",
    )
    username_env: str | None = Field(default=None, pattern=ENV_NAME_PATTERN)
    password_env: str | None = Field(default=None, pattern=ENV_NAME_PATTERN)

    @field_validator("url")
    @classmethod
    def _no_plain_http_off_the_machine(cls, value: str) -> str:
        host = urllib.parse.urlsplit(value).hostname or ""
        if value.startswith("http://") and not is_loopback(host):
            raise ValueError("plain http would send the login in the clear: use https")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _both_or_neither(self) -> ServiceRegistry:
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("give both 'username_env' and 'password_env', or neither")
        return self


class ImageService(Model):
    """One service of a Compose environment: an image, the version it runs, its tag's place.

    An image one of the project's image targets builds follows the project's releases;
    any other is a third party's, in the inventory's registry or in its own
    (``registry``), and follows its version range. ``compose_services`` are the Compose
    services that run it (default: the service's own name).
    """

    name: ServiceName
    image: str = Field(
        pattern=f"^{REPOSITORY_PATTERN}$",
        max_length=200,
        description="The image's repository, e.g. hello or vendor/cache.",
    )
    registry: ServiceRegistry | None = Field(
        default=None, description="A third party's own registry; default: the inventory's."
    )
    compose_services: list[ServiceName] = Field(
        default_factory=list, description="The Compose services running it; default: name."
    )
    tag_variable: str | None = Field(
        default=None, pattern=r"^[A-Z_][A-Z0-9_]{0,63}$", description="Set in .env."
    )
    version: str = Field(max_length=256, description="A pin or an npm-style range.")
    prereleases: bool = Field(default=False, description="Let the range take pre-releases.")
    track: str | None = Field(
        default=None,
        max_length=256,
        description="For a pin: the range env.track proposes its next pin from (default ^PIN).",
    )
    health: HealthCheck | None = None

    @field_validator("version", "track")
    @classmethod
    def _valid_range(cls, value: str | None) -> str | None:
        return None if value is None else checked_range(value)

    @field_validator("tag_variable")
    @classmethod
    def _own_variable(cls, value: str | None) -> str | None:
        return own_variable(value)

    @property
    def containers(self) -> tuple[str, ...]:
        """The Compose services that run the image."""
        return tuple(self.compose_services) or (self.name,)


class Environment(Model):
    """Where a version runs: hosts, what runs there, the version, channels and the rollout."""

    model_config = ConfigDict(populate_by_name=True)

    name: Name
    kind: EnvironmentKind = Field(
        default="packages",
        description="packages: apt installs the packages; compose: the image runs in Compose.",
    )
    compose: ComposeProject | None = Field(default=None, description="For kind: compose.")
    services: list[ImageService] = Field(
        default_factory=list,
        description="For kind: compose: the images it runs, each with its own version.",
    )
    hosts: list[ServerHost] | TaggedHosts = Field(
        description="Servers with pinned keys, or {droplet_tag, known_hosts}."
    )
    packages: list[PackageName] = Field(
        default_factory=list, description="Packages to install; default: the project name."
    )
    units: list[UnitName] = Field(
        default_factory=list, description="systemd units restarted after the install."
    )
    version: str | None = Field(
        default=None,
        max_length=256,
        description="An exact version (a pin) or an npm-style range: ^1.2.0, ~1.2, *, "
        ">=1.3.0-rc.0 <=1.3.0-rc.9999 (with services: each service's own).",
    )
    track: str | None = Field(
        default=None,
        max_length=256,
        description="For a pin: the range env.track proposes its next pin from (default ^PIN).",
    )
    prereleases: bool = Field(
        default=False, description="Let the range take pre-releases of any version."
    )
    channels: list[ChannelName] = Field(
        default_factory=lambda: list[ChannelName](["stable"]),
        min_length=1,
        description="Suites to install from.",
    )
    upstream: Name | None = Field(
        default=None, alias="from", description="The environment it is promoted from."
    )
    auto: bool = Field(default=False, description="Deploy after every release it accepts.")
    batch: int | None = Field(
        default=None, ge=1, le=10_000, description="Hosts at a time; default: all at once."
    )
    batch_wait: float = Field(
        default=0.0, ge=0, le=DAY, description="Seconds to wait between batches."
    )
    arch: Arch = Field(default="amd64", description="The hosts' architecture.")
    health: HealthCheck | None = None
    install_timeout: float = Field(default=600.0, gt=0, le=DAY)

    @field_validator("version", "track")
    @classmethod
    def _valid_range(cls, value: str | None) -> str | None:
        return None if value is None else checked_range(value)

    @model_validator(mode="after")
    def _fits_kind(self) -> Environment:
        if self.kind == "compose":
            if self.compose is None:
                raise ValueError("kind: compose needs 'compose' (image, directory, services)")
            if self.packages or self.units or "channels" in self.model_fields_set:
                raise ValueError(
                    "kind: compose runs the image, not packages: drop 'packages', 'units' "
                    "and 'channels'"
                )
            if self.services:
                self._check_services()
            elif self.compose.image is None:
                raise ValueError(
                    "kind: compose needs compose.image (the project's image) or 'services'"
                )
        elif self.compose is not None:
            raise ValueError("'compose' is for kind: compose environments")
        elif self.services:
            raise ValueError("'services' are for kind: compose environments")
        if not self.services and self.version is None:
            raise ValueError("'version' is required: a pin such as 1.2.3 or a range such as ^1.2.0")
        return self

    def _check_services(self) -> None:
        """ValueError unless the services are named once, each with its own tag's place."""
        assert self.compose is not None
        if self.compose.image is not None:
            raise ValueError("give compose.image or 'services', not both")
        own = [
            f for f in ("version", "prereleases", "health", "track") if f in self.model_fields_set
        ]
        if own:
            raise ValueError(
                f"with services, each service has its own version, pre-releases, track and "
                f"health: move {', '.join(own)} into them"
            )
        for label, values in (
            ("service", [s.name for s in self.services]),
            ("Compose service", [c for s in self.services for c in s.containers]),
            ("tag_variable", [s.tag_variable for s in self.services if s.tag_variable]),
        ):
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"{label} {', '.join(twice)} is named twice")
        override = self.compose.override_file is not None
        for service in self.services:
            if override == (service.tag_variable is not None):
                raise ValueError(
                    f"service {service.name!r}: give a tag_variable, or compose.override_file "
                    "for every service (not both)"
                )

    @property
    def image_services(self) -> list[ImageService]:
        """The images a Compose environment runs: its services, or the project's one image."""
        compose = self.compose
        if self.services or compose is None or compose.image is None:
            return list(self.services)
        image = compose.image
        assert self.version is not None  # required without services
        return [
            ImageService(
                name=image.rsplit("/", 1)[-1], image=image,
                compose_services=list(compose.services), tag_variable=compose.tag_variable,
                version=self.version, prereleases=self.prereleases, track=self.track,
                health=self.health,
            )
        ]  # fmt: skip

    @field_validator("hosts")
    @classmethod
    def _some_hosts(cls, value: list[ServerHost] | TaggedHosts) -> list[ServerHost] | TaggedHosts:
        if isinstance(value, list) and not value:
            raise ValueError("list at least one host, or select them with droplet_tag")
        return value

    @field_validator("packages", "units", "channels")
    @classmethod
    def _no_duplicates(cls, values: list[str]) -> list[str]:
        twice = sorted({value for value in values if values.count(value) > 1})
        if twice:
            raise ValueError(f"listed twice: {', '.join(twice)}")
        return values

    @property
    def logins(self) -> list[Login]:
        """How the deploy logs in: each listed host's login, or the tagged droplets' one."""
        return list(self.hosts) if isinstance(self.hosts, list) else [self.hosts]

    @property
    def listed_hosts(self) -> list[ServerHost]:
        """The hosts the inventory lists (none when they are selected by droplet tag)."""
        return self.hosts if isinstance(self.hosts, list) else []
