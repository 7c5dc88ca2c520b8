"""The real seams of a deploy: its hosts over pinned SSH, what is published and the key, the ledger."""

from __future__ import annotations

import functools
from collections.abc import Callable

from orchestrator.cli.wiring.images import image_registry
from orchestrator.cli.wiring.publish import with_publish_access
from orchestrator.cli.wiring.sandbox import cloud_client, ensure_sandbox
from orchestrator.cli.wiring.servers import sandbox_servers
from orchestrator.cloud.digitalocean import not_on_network
from orchestrator.config.environments import Environment, TaggedHosts
from orchestrator.config.inventory import Inventory
from orchestrator.deploy.hosts import SshShell, open_ssh_shell
from orchestrator.deploy.index import Available, available_versions
from orchestrator.deploy.ledger import FailureLedger
from orchestrator.deploy.seams import DeploySeams
from orchestrator.errors import UsageError
from orchestrator.images.registry import Registry
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
        self._registry: Registry | None = None

    def available(self, environment: Environment) -> list[Available]:
        """A Compose environment's image's tags in the registry, else the signed index's."""
        if environment.compose is not None:
            tags = self._registry_client().tags(environment.compose.image)
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

    def image(self, environment: Environment, tag: str) -> ServedTag | None:
        """What the registry serves under ``tag`` for the Compose environment's image."""
        assert environment.compose is not None  # asked for Compose environments only
        return served_tag(self._registry_client(), environment.compose.image, tag)

    def project_key(self) -> str:
        """The key of ``signing.public_key``, or the sandbox's (exported once)."""
        if self._key is None:
            self._key = _project_key(self._inventory)
        return self._key

    def _registry_client(self) -> Registry:
        if self._registry is None:
            self._registry = image_registry(self._inventory)
        return self._registry


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
