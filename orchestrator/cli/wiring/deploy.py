"""The real seams of a deploy: its hosts over pinned SSH, what is published and the key, the ledger."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping

from orchestrator.cli.wiring.images import image_registry
from orchestrator.cli.wiring.publish import with_publish_access
from orchestrator.cli.wiring.sandbox import cloud_client, ensure_sandbox
from orchestrator.cli.wiring.servers import sandbox_servers
from orchestrator.cloud.digitalocean import not_on_network
from orchestrator.config.environments import (
    Environment,
    ImageService,
    ServiceRegistry,
    TaggedHosts,
)
from orchestrator.config.inventory import Inventory
from orchestrator.deploy.hosts import SshShell, open_ssh_shell
from orchestrator.deploy.index import Available, available_versions
from orchestrator.deploy.ledger import FailureLedger
from orchestrator.deploy.seams import DeploySeams
from orchestrator.errors import UsageError
from orchestrator.images.registry import Credentials, LoginRefused, Registry
from orchestrator.images.served import ServedTag, served_tag
from orchestrator.publish.run import resolve
from orchestrator.publish.target import PublishTarget
from orchestrator.remote.fleet import HostAccess
from orchestrator.remote.sshkeys import known_hosts_name
from orchestrator.repo.signing import public_key_only
from orchestrator.sandbox.signingkey import sandbox_public_key

# What the deploy names the registry as, in place of an apt channel.
REGISTRY_CHANNEL = "registry"


def _tagged(
    inventory: Inventory, environment: Environment, tagged: TaggedHosts
) -> list[HostAccess]:
    import paramiko  # as in orchestrator.remote.fleet.connect: not at start-up

    known = paramiko.HostKeys()
    try:
        known.load(str(tagged.known_hosts))
    except (OSError, paramiko.SSHException) as error:
        raise UsageError(
            f"environment {environment.name}: cannot read known_hosts {tagged.known_hosts}: {error}"
        ) from None
    found = []
    for droplet in cloud_client(inventory).list_droplets(tagged.droplet_tag):
        address = droplet.ipv4(tagged.network)
        if address is None:
            raise UsageError(
                f"environment {environment.name}: "
                + not_on_network(droplet, tagged.network, "hosts.network")
            )
        keys = known.lookup(known_hosts_name(address, tagged.port))
        if not keys:
            raise UsageError(
                f"environment {environment.name}: droplet {droplet.name} ({address}) has no "
                f"key in {tagged.known_hosts}; add its host key there (never trusted on first use)"
            )
        key = next(iter(keys.values()))
        found.append(
            HostAccess(
                name=droplet.name, address=address, port=tagged.port, user=tagged.user,
                become=tagged.become, host_key=f"{key.get_name()} {key.get_base64()}",
                identity_file=str(tagged.identity_file) if tagged.identity_file else None,
            )
        )  # fmt: skip
    if not found:
        raise UsageError(
            f"environment {environment.name}: no droplet is tagged {tagged.droplet_tag!r}"
        )
    return sorted(found, key=lambda access: access.name)


def _project_key(inventory: Inventory) -> str:
    signing = inventory.signing
    if signing.public_key is not None:
        where = f"signing.public_key {signing.public_key}"
        try:
            return public_key_only(signing.public_key.read_text(encoding="utf-8"), where)
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"{where}: {error}") from None
    if signing.sandbox_key and inventory.cloud.sandbox is not None:
        return sandbox_public_key(inventory.cloud.sandbox, inventory.project.name)
    raise UsageError(
        "deploys need the project's public key: set signing.public_key to its armored file"
    )


def _listed(inventory: Inventory, environment: Environment) -> list[HostAccess]:
    """The hosts ``environment`` lists; a sandbox server's key and login are the sandbox's."""
    sandbox = sandbox_servers(inventory, environment)
    listed = []
    for host in environment.listed_hosts:
        server = sandbox.get(host.name)
        listed.append(
            HostAccess(
                name=host.name, address=host.address, port=host.port, user=host.user,
                become=host.become, host_key=server.host_key if server else host.host_key,
                identity_file=str(server.identity_file) if server
                else (str(host.identity_file) if host.identity_file else None),
            )
        )  # fmt: skip
    return listed


class SshDeployHosts:
    """An environment's hosts over pinned SSH: those it lists, or the droplets of its tag."""

    def __init__(self, inventory: Inventory) -> None:
        self._inventory = inventory

    def accesses(self, environment: Environment) -> list[HostAccess]:
        """The listed hosts in the inventory's order, or the tagged droplets by name."""
        if isinstance(environment.hosts, TaggedHosts):
            return _tagged(self._inventory, environment, environment.hosts)
        return _listed(self._inventory, environment)

    def connect(self, access: HostAccess) -> SshShell:
        """A shell over SSH that accepts only the pinned host key."""
        return open_ssh_shell(access)


class PublishedReleaseIndex:
    """What the inventory published for its environments, and the project's key.

    The signed apt index at the first publish target, or the registry's tags for a
    Compose environment. The key (for the sandbox, exported) and the registry's login are
    had once per command, whoever asks.
    """

    def __init__(self, inventory: Inventory) -> None:
        self._inventory = inventory
        self._key: str | None = None
        self._registries: dict[str, Registry] = {}

    def available(self, environment: Environment, service: str) -> list[Available]:
        """A Compose service's image's tags in its registry, else the signed index's."""
        if environment.compose is not None:
            image = _image_service(environment, service)
            try:
                tags = self._registry_of(image).tags(image.image)
            except LoginRefused as error:
                raise UsageError(_login_needed(environment, image, error)) from None
            return [Available(tag, REGISTRY_CHANNEL) for tag in tags]
        inventory = self._inventory
        ensure_sandbox(inventory)
        return available_versions(
            inventory.publish[0].url,
            environment.channels,
            environment.arch,
            inventory.packages_of(environment),
            self.project_key(),
        )

    def image(self, environment: Environment, service: str, tag: str) -> ServedTag | None:
        """What its registry serves under ``tag`` for a Compose service's image."""
        image = _image_service(environment, service)
        try:
            return served_tag(self._registry_of(image), image.image, tag)
        except LoginRefused as error:
            raise UsageError(_login_needed(environment, image, error)) from None

    def project_key(self) -> str:
        """The key of ``signing.public_key``, or the sandbox's (exported once)."""
        if self._key is None:
            self._key = _project_key(self._inventory)
        return self._key

    def _registry_of(self, image: ImageService) -> Registry:
        """The service's own registry, logged in from its variables, else the inventory's."""
        own = image.registry
        key = own.url if own is not None else ""
        if key not in self._registries:
            self._registries[key] = (
                image_registry(self._inventory) if own is None else _service_registry(own)
            )
        return self._registries[key]


def _image_service(environment: Environment, name: str) -> ImageService:
    return next(s for s in environment.image_services if s.name == name)


def _service_registry(config: ServiceRegistry, environ: Mapping[str, str] = os.environ) -> Registry:
    """A third party's registry: logged in from its variables when given, else anonymous."""
    if config.username_env is None or config.password_env is None:
        return Registry(config.url, None)
    username, password = environ.get(config.username_env), environ.get(config.password_env)
    if not username or not password:
        raise UsageError(
            f"{config.url} is read with the login in {config.username_env} and "
            f"{config.password_env}: set both"
        )
    return Registry(config.url, Credentials(username, password))


def _login_needed(environment: Environment, image: ImageService, error: LoginRefused) -> str:
    """What to fix when a service's registry refuses to answer without a login."""
    if image.registry is None:
        return f"environment {environment.name}, service {image.name}: {error}"
    return (
        f"environment {environment.name}, service {image.name}: {error}; give its registry "
        "username_env and password_env naming variables that hold a login for it"
    )


def deploy_seams(inventory: Inventory) -> DeploySeams:
    """The real seams of a deploy: pinned SSH to the hosts, what is published, the ledger."""
    return DeploySeams(
        SshDeployHosts(inventory),
        PublishedReleaseIndex(inventory),
        FailureLedger(_ledger(inventory)),
    )


def _ledger(inventory: Inventory) -> Callable[[], PublishTarget] | None:
    """The first publish target, where the deploy ledger is kept (None: there is none).

    Opened on first use, once per command (for the sandbox's repo server, its keys then).
    """
    if not inventory.publish:
        return None
    first = inventory.model_copy(update={"publish": inventory.publish[:1]})
    return functools.cache(lambda: resolve(with_publish_access(first).publish[0]))
