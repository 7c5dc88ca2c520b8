"""The inventory: what to build, where, how to sign it and where to publish it.

An inventory is one YAML file validated against the models below. Unknown keys and wrong
types are errors that name the file, the key path and what was expected. Relative paths
in an inventory are relative to the file itself, so a run does not depend on the
working directory.
"""

from __future__ import annotations

import re
import reprlib
import stat
import urllib.parse
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from orchestrator.config.credentials import (
    PYTHON_INDEX_TOKEN,
    REGISTRY_PASSWORD,
    REGISTRY_USERNAME,
    secret_variables,
)
from orchestrator.config.environment_checks import (
    Surroundings,
    check_environments,
    resolved_environment,
)
from orchestrator.config.environments import Environment
from orchestrator.config.gate import ReleaseTests
from orchestrator.config.pyindex import PythonIndex
from orchestrator.config.repositories import (
    DEFAULT_VALID_UNTIL_DAYS,
    RetentionOptions,
    SigningConfig,
)
from orchestrator.config.sandbox_settings import SandboxSettings
from orchestrator.config.schema import (
    ALL_CHANNELS,
    DAY,
    ENV_NAME_PATTERN,
    PACKAGE_NAME_PATTERN,
    PUBLISHED,
    REPOSITORY_PATTERN,
    SANDBOX_HOST_KEY,
    Arch,
    ChannelName,
    EventKind,
    Model,
    Name,
    Network,
    PackageName,
    host_key_line,
    is_loopback,
)
from orchestrator.config.templating import render_template
from orchestrator.config.yamlload import YamlRefused, load_yaml
from orchestrator.errors import InventoryError, UsageError

TAG_PREFIX_PATTERN = r"^[a-z][a-z0-9-]{0,30}$"
FINGERPRINT_PATTERN = re.compile(r"(?:[0-9a-f]{2}:){15}[0-9a-f]{2}")
GLOB_PATTERN = re.compile(r"[A-Za-z0-9_.*?\[\]/+-]+")
# An inventory is a page of YAML; anything this big is a mistake or an attack.
MAX_INVENTORY_BYTES = 1 << 20
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
_BYTE_UNITS = {"": 1, "k": KiB, "m": MiB, "g": GiB, "t": 1 << 40}
_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 60
_SHOWN.maxlist = _SHOWN.maxdict = 4
_SHOWN.maxlevel = 2


def _bytes(value: Any) -> Any:
    """A size in bytes from an int or a string such as ``512M``, ``2G`` or ``1GiB``."""
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\s*([0-9]{1,12})\s*([kKmMgGtT]?)(?:i?[bB])?\s*", value)
    if match is None:
        raise ValueError(f"expected a size such as 512M or 2G, got {value[:40]!r}")
    return int(match[1]) * _BYTE_UNITS[match[2].lower()]


PackageFormat = Literal["deb", "rpm", "image"]
PACKAGE_FORMATS = ("deb", "rpm")


class Project(Model):
    """The software being released."""

    name: Annotated[str, Field(pattern=PACKAGE_NAME_PATTERN)] = Field(
        description="Package and project name (lowercase, as Debian package names)."
    )
    source: Path = Field(description="Path of the git repository holding the release tags.")
    maintainer: str = Field(description="'Name <email>' written into the repositories.")
    homepage: str | None = Field(default=None, description="Shown on the landing page.")
    description: str | None = Field(default=None, description="One-line summary.")
    epoch: int | None = Field(
        default=None,
        ge=0,
        le=2**31 - 1,
        description="The packages' epoch, if the project uses one; a package with another "
        "epoch (or any epoch when this is unset) is refused, since an epoch outranks every "
        "later version without it.",
    )


class StaticHost(Model):
    """An existing build machine reached over SSH (provider ``static``)."""

    name: Name
    address: str = Field(description="IP address or DNS name.")
    port: int = Field(default=22, ge=1, le=65535)
    user: str = "root"
    host_key: str = Field(
        description="The host's public key as in known_hosts, e.g. 'ssh-ed25519 AAAA...'."
    )
    identity_file: Path | None = Field(
        default=None, description="Private key for this host; default: the SSH agent."
    )

    @field_validator("host_key")
    @classmethod
    def _host_key_shape(cls, value: str) -> str:
        return host_key_line(value)


class Cloud(Model):
    """Where build machines come from."""

    provider: Literal["digitalocean", "static"]
    region: str = Field(default="nyc3", description="DigitalOcean region slug.")
    image: str = Field(default="debian-12-x64", description="Default droplet image slug.")
    size: str = Field(default="s-2vcpu-4gb", description="Default droplet size slug.")
    ssh_keys: list[int | str] = Field(
        default_factory=list,
        description="Account SSH key ids or fingerprints added to every droplet (operator access).",
    )
    tag_prefix: Annotated[str, Field(pattern=TAG_PREFIX_PATTERN)] = Field(
        default="relorch", description="Tag on every droplet the tool creates; teardown uses it."
    )
    max_droplets: int = Field(
        default=10, ge=1, le=1000, description="Never more droplets alive at once."
    )
    api_endpoint: str | None = Field(
        default=None, description="DigitalOcean API base URL ending in /v2/; default: the real API."
    )
    network: Network = Field(
        default="public",
        description="The droplet address the tool connects to: public, or private (its VPC "
        "address, for a tool that runs inside the same VPC, such as a CI runner there).",
    )
    vpc_uuid: str | None = Field(
        default=None,
        description="The VPC droplets are created in; default: the region's default VPC. A "
        "droplet's VPC is fixed at creation, and VPCs are isolated from each other.",
    )
    ssh_user: str = "root"
    ssh_port: int = Field(default=22, ge=1, le=65535)
    boot_timeout: float = Field(
        default=300.0,
        gt=0,
        le=3600,
        description="Seconds for a droplet to become active and answer SSH.",
    )
    destroy_timeout: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="Seconds destroying a droplet may take (the run's final cleanup gets as "
        "long once more); what is still alive then is reported with the teardown command.",
    )
    sandbox: SandboxSettings | None = Field(
        default=None, description="Use the local DigitalOcean emulator instead of a real account."
    )
    hosts: list[StaticHost] = Field(default_factory=list, description="Hosts of provider static.")

    @field_validator("api_endpoint")
    @classmethod
    def _endpoint_ends_in_v2(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^/\s]+(/[^\s]*)?/v2/", value):
            raise ValueError(
                "expected an http(s) URL ending in /v2/, e.g. https://api.digitalocean.com/v2/"
            )
        return value

    @field_validator("vpc_uuid")
    @classmethod
    def _vpc_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError(
                f"{_SHOWN.repr(value)} is not a VPC id: give the UUID `doctl vpcs list` shows"
            ) from None

    @field_validator("ssh_keys")
    @classmethod
    def _ids_or_fingerprints(cls, keys: list[int | str]) -> list[int | str]:
        # A public-key string would make python-digitalocean list and create account keys.
        for key in keys:
            if isinstance(key, str) and not FINGERPRINT_PATTERN.fullmatch(key):
                raise ValueError(
                    f"{key!r} is not a key id or an MD5 fingerprint (aa:bb:...:ff); "
                    "add the public key to the account and use its id or fingerprint"
                )
        return keys

    @model_validator(mode="after")
    def _provider_fields(self) -> Cloud:
        if self.provider == "static" and (self.sandbox is not None or self.api_endpoint):
            raise ValueError("provider static takes 'hosts', not 'sandbox' or 'api_endpoint'")
        if self.provider == "static" and (self.network != "public" or self.vpc_uuid):
            raise ValueError(
                "provider static reaches its hosts at their address: drop 'network' and "
                "'vpc_uuid', which are for droplets"
            )
        if self.provider == "digitalocean" and self.hosts:
            raise ValueError("'hosts' is for provider static; droplets are created on demand")
        if self.sandbox is not None and self.api_endpoint:
            raise ValueError("set either 'sandbox' or 'api_endpoint', not both")
        names = [host.name for host in self.hosts]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate host names: {', '.join(duplicates)}")
        return self


class ArtifactLimits(Model):
    """What a target's build host may send back, checked while its bundle is read.

    Sizes take bytes or a unit: ``512M``, ``2G``.
    """

    bundle_bytes: Annotated[int, BeforeValidator(_bytes), Field(ge=1, le=256 * GiB)] = Field(
        default=GiB, description="The compressed artifact bundle."
    )
    unpacked_bytes: Annotated[int, BeforeValidator(_bytes), Field(ge=1, le=1024 * GiB)] = Field(
        default=2 * GiB, description="The files the bundle unpacks to, together."
    )
    files: int = Field(default=1000, ge=1, le=1_000_000, description="Files in the bundle.")
    log_bytes: Annotated[int, BeforeValidator(_bytes), Field(ge=0, le=64 * GiB)] = Field(
        default=64 * MiB,
        description="Build output written to the log; past it, output is counted, not kept.",
    )


class ContainerImage(Model):
    """The container image a ``format: image`` target builds with ``docker build``."""

    repository: str = Field(
        pattern=f"^{REPOSITORY_PATTERN}$",
        max_length=200,
        description="Repository in the registry: the image is pushed as "
        "REGISTRY/REPOSITORY:VERSION.",
    )
    dockerfile: str = Field(default="Dockerfile", description="Relative to the source tree.")
    context: str = Field(default=".", description="Build context, relative to the source tree.")
    tags: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="Tags moved to the image on plain releases (never pre-releases), after "
        "everything is published: templates with major, minor and patch, e.g. latest, "
        "'{{ major }}', '{{ major }}.{{ minor }}'.",
    )

    @field_validator("dockerfile", "context")
    @classmethod
    def _inside_the_source(cls, value: str) -> str:
        if (value != "." and not _safe_glob(value)) or any(c in value for c in "*?["):
            raise ValueError(
                f"{_SHOWN.repr(value)} must be a relative path inside the source tree "
                "(letters, digits and . _ - + /, no '..')"
            )
        return value


class Registry(Model):
    """The container registry image targets push to (the Registry HTTP API v2).

    The orchestrator pushes, never a build host: the login stays on this machine.
    """

    url: str = Field(
        pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$",
        description="e.g. https://registry.example.org; plain http only on 127.0.0.0/8.",
    )
    username_env: str = Field(
        default=REGISTRY_USERNAME,
        pattern=ENV_NAME_PATTERN,
        description="Variable holding the username (unset with the password: no login).",
    )
    password_env: str = Field(
        default=REGISTRY_PASSWORD,
        pattern=ENV_NAME_PATTERN,
        description="Variable holding the password.",
    )
    sandbox: bool = Field(
        default=False,
        description="The sandbox's registry: its login is read from the running sandbox.",
    )

    @field_validator("url")
    @classmethod
    def _no_plain_http_off_the_machine(cls, value: str) -> str:
        parts = urllib.parse.urlsplit(value)
        if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
            raise ValueError("plain http would send the login in the clear: use https")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError(
                f"port {parts.netloc.partition(':')[2]} is not a TCP port (1 to 65535)"
            )
        return value.rstrip("/")


# The name of the tests' program: its droplet, work directory and log are named after it.
TESTS = "tests"

# What a build command may use, as template variables and (upper-case) environment variables.
BUILD_VARIABLES = (
    "project", "tag", "commit", "version", "channel", "arch", "rpm_arch", "format", "target",
    "run_id", "python_version",
)  # fmt: skip


class BuildTarget(Model):
    """One build: an architecture and a package format on one machine."""

    name: Name = Field(description="e.g. amd64-deb.")
    arch: Arch
    format: PackageFormat
    image: str | None = Field(default=None, description="Droplet image; default cloud.image.")
    size: str | None = Field(default=None, description="Droplet size; default cloud.size.")
    host: str | None = Field(default=None, description="Static host name (provider static).")
    command: str | None = Field(
        default=None,
        max_length=64 * KiB,
        description="Shell command run in the unpacked source; a jinja2 template with "
        f"{', '.join(BUILD_VARIABLES)}. Image targets run it (if set) before docker build.",
    )
    artifacts: list[str] = Field(
        default_factory=list, description="Globs of packages to collect (deb and rpm)."
    )
    container: ContainerImage | None = Field(
        default=None, description="The image a format: image target builds."
    )
    extra_artifacts: list[str] = Field(
        default_factory=list, description="Globs of other files to collect (crates...)."
    )
    python_artifacts: list[str] = Field(
        default_factory=list,
        description="Globs of Python distributions (e.g. dist/*.whl, dist/*.tar.gz): each "
        "must be the project's at the release's PEP 440 version; uploaded to python_index.",
    )
    timeout: float = Field(
        default=1800.0, gt=0, le=7 * DAY, description="Seconds the build may take."
    )
    packages: list[PackageName] | None = Field(
        default=None,
        description="Names of the packages this target builds; default: the project name. "
        "A package of another name fails the target.",
    )
    arch_independent: list[PackageName] = Field(
        default_factory=list,
        description="Packages of this target built as Architecture: all (deb) or noarch "
        "(rpm); any other package must have the target's architecture.",
    )
    limits: ArtifactLimits = Field(default_factory=ArtifactLimits)

    @model_validator(mode="after")
    def _format_fields(self) -> BuildTarget:
        if self.format == "image":
            if self.container is None:
                raise ValueError("a format: image target needs 'container' (its repository)")
            if self.artifacts or self.extra_artifacts or self.python_artifacts:
                raise ValueError(
                    "a format: image target collects its image: drop 'artifacts', "
                    "'extra_artifacts' and 'python_artifacts'"
                )
        else:
            if self.container is not None:
                raise ValueError("'container' is only for format: image targets")
            if self.command is None or not self.artifacts:
                raise ValueError(f"a format: {self.format} target needs 'command' and 'artifacts'")
        if self.command is not None:
            # Refused when the inventory loads, not at the first release.
            sample = dict.fromkeys(BUILD_VARIABLES, "x")
            where = f"targets.{self.name}.command"
            try:
                render_template(self.command, sample, where, "a build command")
            except InventoryError as error:
                raise ValueError(str(error)) from None
        return self

    @field_validator("artifacts", "extra_artifacts", "python_artifacts")
    @classmethod
    def _safe_globs(cls, globs: list[str]) -> list[str]:
        for glob in globs:
            if not _safe_glob(glob):
                raise ValueError(
                    f"artifact glob {_SHOWN.repr(glob)} must be a relative path of letters, "
                    "digits and . _ - + / * ? [ ], with no '.' or '..' component and no "
                    "component that could match one (starting with '[', or '.' and a pattern)"
                )
        return globs


def _safe_glob(glob: str) -> bool:
    """Whether the remote shell may expand ``glob`` unquoted without leaving the tree.

    Only path and pattern characters; no component ``.`` or ``..``, and none that bash
    could match to one: ``*`` and ``?`` never match a leading dot, but ``[.]`` and ``.*``
    do (bash before 5.2 matches ``.*`` to ``..``).
    """
    if len(glob) > 1024 or not GLOB_PATTERN.fullmatch(glob) or glob.startswith("/"):
        return False
    for part in glob.split("/"):
        if part in ("", ".", "..") or part.startswith("["):
            return False
        if part.startswith(".") and part[1] in ".*?[":
            return False
    return True


class Repositories(Model):
    """The APT and RPM repositories made from the packages."""

    origin: str | None = Field(default=None, description="Release Origin; default project name.")
    label: str | None = Field(default=None, description="Release Label; default project name.")
    base_url: str | None = Field(
        default=None,
        description="Public URL written into client files; default: the first publish url.",
    )
    channels: list[ChannelName] = Field(default_factory=lambda: list(ALL_CHANNELS))
    valid_until_days: int = Field(
        default=DEFAULT_VALID_UNTIL_DAYS,
        ge=1,
        description="Release files expire this many days after signing.",
    )
    by_hash_generations: int = Field(default=3, ge=1, le=100)
    retention: RetentionOptions = Field(default_factory=RetentionOptions)


def _page_path(value: str) -> str:
    # The page sits beside the tree, never in it: a release would replace it, a pull would
    # take it for a tree file, and a path with ".." or a hidden segment could reach the
    # server's control files (the lock, the manifest, the snapshots).
    segments = value.split("/")
    if len(segments) > 4 or not all(
        re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}", part) for part in segments
    ):
        raise ValueError(
            "must be a relative path of at most 4 segments of letters, digits and . _ - "
            "(no '..', none starting with a dot), e.g. environments.html"
        )
    if segments[0] in PUBLISHED or not value.endswith(".html"):
        raise ValueError(
            f"must end in .html and lie outside the repository tree ({', '.join(PUBLISHED)})"
        )
    return value


PagePath = Annotated[str, AfterValidator(_page_path)]
# What clients are told to fetch, and pages link to: no space, quote or angle bracket.
URL_PATTERN = r"^https?://[^\s\"'<>]+$"
PAGE_HELP = (
    "Where `invoke env.page --publish NAME` puts the environments page, relative to url "
    "(e.g. environments.html); the landing page then links to it. Unset: never published here."
)


class SshPublish(Model):
    """A repo server reached over SSH that serves ``<path>/current``.

    ``host_key: sandbox`` names the sandbox's own repo server: its host key and the client
    key to log in with are read from the running sandbox (``cloud.sandbox``), and ``host``,
    ``port`` and ``path`` must be the sandbox's ``repo_server_address``, ``ssh_port`` and
    ``/root/repo``.
    """

    kind: Literal["ssh"]
    name: Name
    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str = "root"
    path: str = Field(description="Web root holding snapshots/ and the current symlink.")
    url: str = Field(pattern=URL_PATTERN, description="Public base URL that serves 'current'.")
    host_key: str | None = Field(
        default=None,
        description="The server's public host key line ('ssh-ed25519 AAAA...'), pinned; "
        "'sandbox' for the sandbox's repo server.",
    )
    identity_file: Path | None = Field(
        default=None, description="Private key to log in with; default: the SSH agent."
    )
    snapshots_keep: int = Field(
        default=5, ge=1, le=1000, description="Snapshots kept on the server."
    )
    environments_page: PagePath | None = Field(default=None, description=PAGE_HELP)

    @field_validator("host_key")
    @classmethod
    def _host_key_shape(cls, value: str | None) -> str | None:
        if value is None or value == SANDBOX_HOST_KEY:
            return value
        return host_key_line(value)

    @field_validator("path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/") or value.rstrip("/") == "":
            raise ValueError(f"path {value!r} must be an absolute directory other than /")
        return value.rstrip("/")


class S3Publish(Model):
    """An S3-compatible bucket, such as DigitalOcean Spaces."""

    kind: Literal["s3"]
    name: Name
    bucket: str
    endpoint: str | None = Field(
        default=None, description="e.g. https://ams3.digitaloceanspaces.com"
    )
    region: str = "us-east-1"
    prefix: str = ""
    url: str = Field(pattern=URL_PATTERN, description="Public base URL of the prefix.")
    acl: str | None = Field(default="public-read", description="Canned ACL; null for none.")
    concurrency: int = Field(default=16, ge=1, le=256)
    gc_grace_hours: float = Field(default=24.0, ge=0, le=24 * 3650)
    environments_page: PagePath | None = Field(default=None, description=PAGE_HELP)


PublishConfig = Annotated[SshPublish | S3Publish, Field(discriminator="kind")]


class Hooks(Model):
    """Commands run on the orchestrator after a successful publish.

    A hook sees the release's variables, a few harmless ones of the orchestrator's
    environment (PATH, HOME, locale) and those ``env`` names; never a secret.
    """

    after_publish: list[str] = Field(default_factory=list)
    env: list[Annotated[str, Field(pattern=ENV_NAME_PATTERN)]] = Field(
        default_factory=list,
        description="Variables of the orchestrator's environment passed to the hooks.",
    )
    timeout: float = Field(
        default=600.0, gt=0, le=DAY, description="Seconds each hook may run before it is killed."
    )


class Notify(Model):
    """A webhook told when a release publishes and when a deploy, promotion or rollback ends."""

    name: Name
    url_env: Annotated[str, Field(pattern=ENV_NAME_PATTERN)] = Field(
        description="The environment variable holding the webhook's URL (a secret: never "
        "in the file)."
    )
    format: Literal["slack", "json"] = Field(
        default="json", description='slack: {"text": ...}; json: every field of the event.'
    )
    events: list[EventKind] = Field(
        default_factory=lambda: list[EventKind](["release", "deploy", "promote", "rollback"]),
        min_length=1,
    )
    timeout: float = Field(default=10.0, gt=0, le=300, description="Seconds per delivery.")


def _refuse_duplicates(field: str, names: list[str]) -> None:
    """ValueError naming every name of ``field`` given more than once."""
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"duplicate {field} names: {', '.join(duplicates)}")


def _check_image_repositories(repositories: dict[str, list[BuildTarget]]) -> None:
    """ValueError unless the image targets of each repository differ in arch and agree on tags.

    A repository's targets push one version tag, an index of one image per platform, and
    move its extra tags together.
    """
    for repository, (lead, *others) in repositories.items():
        arches = {lead.arch: lead.name}
        for target in others:
            other = arches.setdefault(target.arch, target.name)
            if other != target.name:
                raise ValueError(
                    f"targets {other} and {target.name} both build {repository} for "
                    f"linux/{target.arch}: its tag names one image per platform (drop one, "
                    "or change its arch or container.repository)"
                )
            assert lead.container is not None and target.container is not None  # image targets
            if target.container.tags != lead.container.tags:
                raise ValueError(
                    f"targets {lead.name} and {target.name} push {repository} with different "
                    "container.tags, but the tags move its one index: give them the same "
                    "container.tags"
                )


class Inventory(Model):
    """A whole inventory file."""

    project: Project
    cloud: Cloud
    targets: list[BuildTarget] = Field(min_length=1)
    tests: ReleaseTests | None = Field(
        default=None,
        description="Commands that must pass at the release's source before any build "
        "machine is created; a failure ends the release. Absent: no tests.",
    )
    signing: SigningConfig = Field(default_factory=SigningConfig)
    repositories: Repositories = Field(default_factory=Repositories)
    publish: list[PublishConfig] = Field(default_factory=list)
    hooks: Hooks = Field(default_factory=Hooks)
    environments: list[Environment] = Field(
        default_factory=list, description="Where released versions are deployed."
    )
    notify: list[Notify] = Field(default_factory=list, description="Webhooks to tell.")
    registry: Registry | None = Field(
        default=None, description="Where format: image targets push their images."
    )
    python_index: PythonIndex | None = Field(
        default=None, description="Where targets' python_artifacts are uploaded."
    )
    fail_fast: bool = Field(default=True, description="Stop every build when one fails.")
    workspace: Path = Field(
        default=Path("."),
        description="Where runs (.orchestrator/runs), logs/ and reports/ are written.",
    )

    @model_validator(mode="after")
    def _cross_references(self) -> Inventory:
        _refuse_duplicates("targets", [t.name for t in self.targets])
        _refuse_duplicates("publish", [p.name for p in self.publish])
        for target in self.targets:
            self._check_target(target)
        self._check_tests()
        check_environments(self.environments, self._surroundings())
        self._check_images()
        self._check_python()
        self._check_hook_env()
        _refuse_duplicates("notify", [n.name for n in self.notify])
        return self

    def _check_host(self, what: str, host: str | None) -> None:
        """ValueError unless ``what`` (a target, the tests) names a host as its provider needs."""
        host_names = {host.name for host in self.cloud.hosts}
        if self.cloud.provider == "static" and host not in host_names:
            raise ValueError(
                f"{what} needs 'host' naming one of cloud.hosts "
                f"({', '.join(sorted(host_names)) or 'none defined'})"
            )
        if self.cloud.provider == "digitalocean" and host is not None:
            raise ValueError(f"{what}: 'host' is only for provider static")

    def _check_target(self, target: BuildTarget) -> None:
        """ValueError unless ``target`` names a host as its provider needs, and only its packages."""
        self._check_host(f"target {target.name!r}", target.host)
        stray = sorted(set(target.arch_independent) - set(self.package_names(target)))
        if stray:
            raise ValueError(
                f"target {target.name!r}: arch_independent names {', '.join(stray)}, "
                "which is not among its packages"
            )

    def _check_tests(self) -> None:
        """ValueError unless the tests name a host as the provider needs and no target's name."""
        if self.tests is None:
            return
        self._check_host("tests", self.tests.host)
        if any(target.name == TESTS for target in self.targets):
            # The tests' droplet, work directory and log are named as a target's would be.
            raise ValueError(f"a target may not be called {TESTS!r} when the inventory has tests")

    def _surroundings(self) -> Surroundings:
        """What the environments may refer to: channels, packages, images, a sandbox."""
        return Surroundings(
            sandbox=self.cloud.sandbox is not None,
            channels=tuple(self.repositories.channels),
            packages=self.all_packages,
            registry=self.registry is not None,
            images={
                repository: tuple(t.arch for t in targets)
                for repository, targets in self.image_repositories.items()
            },
        )

    def _check_images(self) -> None:
        """ValueError unless image targets have a registry and their repositories agree."""
        images = [t.name for t in self.image_targets]
        if images and self.registry is None:
            raise ValueError(f"image targets ({', '.join(images)}) need a 'registry' to push to")
        _check_image_repositories(self.image_repositories)

    def _check_python(self) -> None:
        """ValueError if a target has Python distributions and there is no index for them."""
        python = [t.name for t in self.targets if t.python_artifacts]
        if python and self.python_index is None:
            raise ValueError(
                f"targets with python_artifacts ({', '.join(python)}) need a 'python_index' "
                "to upload them to"
            )

    def _check_hook_env(self) -> None:
        """ValueError if ``hooks.env`` passes on a variable that holds a secret."""
        secrets = secret_variables(
            self.signing.key_env,
            self.signing.passphrase_env,
            self.registry.password_env if self.registry else REGISTRY_PASSWORD,
            self.python_index.token_env if self.python_index else PYTHON_INDEX_TOKEN,
        )
        passed = sorted((secrets | {n.url_env for n in self.notify}) & set(self.hooks.env))
        if passed:
            raise ValueError(
                f"hooks.env names {', '.join(passed)}, which holds a secret: hooks never "
                "get the tool's token, signing key, bucket credentials or webhook URLs"
            )

    def package_names(self, target: BuildTarget) -> tuple[str, ...]:
        """The packages ``target`` may produce: its own list, else the project's name."""
        return tuple(target.packages) if target.packages is not None else (self.project.name,)

    @property
    def package_targets(self) -> list[BuildTarget]:
        """The targets that build packages (deb, rpm), not images."""
        return [target for target in self.targets if target.format in PACKAGE_FORMATS]

    @property
    def image_targets(self) -> list[BuildTarget]:
        """The targets that build container images."""
        return [target for target in self.targets if target.format == "image"]

    @property
    def image_repositories(self) -> dict[str, list[BuildTarget]]:
        """The image targets by the repository they push to, in order: one tag each."""
        found: dict[str, list[BuildTarget]] = {}
        for target in self.image_targets:
            assert target.container is not None  # an image target's own check requires it
            found.setdefault(target.container.repository, []).append(target)
        return found

    @property
    def all_packages(self) -> tuple[str, ...]:
        """Every package the project's deb and rpm targets build."""
        names = (name for target in self.package_targets for name in self.package_names(target))
        return tuple(dict.fromkeys(names))

    def environment(self, name: str) -> Environment:
        """The environment called ``name``; UsageError naming the ones there are."""
        for environment in self.environments:
            if environment.name == name:
                return environment
        known = ", ".join(e.name for e in self.environments) or "none: add environments"
        raise UsageError(f"unknown environment {name!r}; the inventory has {known}")

    def packages_of(self, environment: Environment) -> tuple[str, ...]:
        """The packages ``environment`` installs: its own list, else the project's name."""
        return tuple(environment.packages) or (self.project.name,)

    @property
    def uses_sandbox(self) -> bool:
        """Whether the cloud is the local DigitalOcean emulator."""
        return self.cloud.sandbox is not None

    def resolved(self, base: Path) -> Inventory:
        """A copy with every relative path made absolute against ``base``."""

        def absolute(path: Path | None) -> Path | None:
            return None if path is None else (base / path).resolve()

        cloud = self.cloud.model_copy(
            update={
                "sandbox": None
                if self.cloud.sandbox is None
                else self.cloud.sandbox.model_copy(
                    update={"state_dir": absolute(self.cloud.sandbox.state_dir)}
                ),
                "hosts": [
                    h.model_copy(update={"identity_file": absolute(h.identity_file)})
                    for h in self.cloud.hosts
                ],
            }
        )
        return self.model_copy(
            update={
                "workspace": absolute(self.workspace),
                "project": self.project.model_copy(
                    update={"source": absolute(self.project.source)}
                ),
                "cloud": cloud,
                "signing": self.signing.model_copy(
                    update={
                        "gnupghome": None
                        if self.signing.gnupghome is None
                        else str(absolute(Path(self.signing.gnupghome))),
                        "public_key": absolute(self.signing.public_key),
                    }
                ),
                "publish": [
                    p.model_copy(update={"identity_file": absolute(p.identity_file)})
                    if isinstance(p, SshPublish)
                    else p
                    for p in self.publish
                ],
                "environments": [resolved_environment(e, absolute) for e in self.environments],
            }
        )


def load_inventory(path: Path) -> Inventory:
    """Read and validate an inventory file; raise :class:`InventoryError` naming what to fix."""
    try:
        # stat first: opening a FIFO would block, and /dev/zero never ends.
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise InventoryError(
                f"{path}: not a regular file; pass --inventory PATH of a YAML file"
            )
        if info.st_size > MAX_INVENTORY_BYTES:
            raise InventoryError(_too_large(path))
        with path.open("rb") as stream:
            data = stream.read(MAX_INVENTORY_BYTES + 1)
    except FileNotFoundError:
        raise InventoryError(
            f"{path}: inventory file not found; pass --inventory PATH "
            "or set orchestrator.inventory in invoke.yaml"
        ) from None
    except OSError as error:
        raise InventoryError(f"{path}: cannot read inventory: {error.strerror}") from None
    if len(data) > MAX_INVENTORY_BYTES:
        raise InventoryError(_too_large(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InventoryError(
            f"{path}: not UTF-8 text (byte {error.start}); save the inventory as UTF-8 YAML"
        ) from None
    return parse_inventory(text, path)


def _too_large(path: Path) -> str:
    return f"{path}: larger than {MAX_INVENTORY_BYTES // MiB} MiB: an inventory is a page of YAML"


def parse_inventory(text: str, path: Path) -> Inventory:
    """Validate inventory YAML ``text`` that came from ``path``.

    Top-level keys starting with ``x-`` are ignored: they hold YAML anchors for the rest of
    the file, as in Compose files.
    """
    if len(text) > MAX_INVENTORY_BYTES:
        raise InventoryError(_too_large(path))
    try:
        data = load_yaml(text)
    except YamlRefused as error:
        where = f"{path}:{error.where}" if error.where else str(path)
        raise InventoryError(f"{where}: {error.message}") from None
    if not isinstance(data, dict):
        raise InventoryError(f"{path}: expected a mapping with project, cloud and targets")
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
    try:
        inventory = Inventory.model_validate(data)
    except ValidationError as error:
        raise InventoryError(describe_validation_error(path, error)) from None
    return inventory.resolved(path.resolve().parent)


def describe_validation_error(path: Path, error: ValidationError) -> str:
    """One line naming the file, each bad key path and what was expected."""
    details = error.errors(include_url=False)
    problems = [_describe(detail) for detail in details[:5]]
    more = f"; and {len(details) - 5} more" if len(details) > 5 else ""
    return f"{path}: " + "; ".join(problems) + more


def _describe(detail: ErrorDetails) -> str:
    location = _key_path(detail["loc"])
    kind = detail["type"]
    if kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "value_error":
        message = str(detail["msg"]).removeprefix("Value error, ")[:300]
    else:
        message = f"{_lower_first(detail['msg'])[:300]}, got {_SHOWN.repr(detail['input'])}"
    return f"{location}: {message}" if location else message


def _key_path(location: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in location:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in ("ssh", "s3") and parts and parts[-1].startswith("["):
            continue  # the discriminated-union tag pydantic adds, not a key the user wrote
        else:
            name = item if len(item) <= 60 else item[:57] + "..."
            parts.append(f".{name}" if parts else name)
    return "".join(parts)


def _lower_first(message: str) -> str:
    return message[:1].lower() + message[1:]
