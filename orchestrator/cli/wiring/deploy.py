"""The real seams of a deploy: pinned SSH to the hosts, the signed index, the project's key."""

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
from orchestrator.deploy.hosts import open_ssh_shell
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


def deploy_seams(inventory: Inventory) -> DeploySeams:
    """The real seams of a deploy: pinned SSH to the hosts, the signed index, the key."""

    @functools.cache
    def project_key() -> str:
        # Read (and for the sandbox, exported) once per command, whoever asks.
        return _project_key(inventory)

    def accesses(environment: Environment) -> list[HostAccess]:
        if isinstance(environment.hosts, TaggedHosts):
            return _tagged(inventory, environment, environment.hosts)
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

    @functools.cache
    def registry() -> Registry:
        return image_registry(inventory)

    def available(environment: Environment) -> list[Available]:
        if environment.compose is not None:
            tags = registry().tags(environment.compose.image)
            return [Available(tag, REGISTRY_CHANNEL) for tag in tags]
        ensure_sandbox(inventory)
        return available_versions(
            inventory.publish[0].url,
            environment.channels,
            environment.arch,
            inventory.packages_of(environment),
            project_key(),
        )

    def image(environment: Environment, tag: str) -> ServedTag | None:
        assert environment.compose is not None  # asked for Compose environments only
        return served_tag(registry(), environment.compose.image, tag)

    return DeploySeams(
        accesses, open_ssh_shell, available, project_key, image, FailureLedger(_ledger(inventory))
    )


def _ledger(inventory: Inventory) -> Callable[[], PublishTarget] | None:
    """The first publish target, where the deploy ledger is kept (None: there is none).

    Opened on first use, once per command (for the sandbox's repo server, its keys then).
    """
    if not inventory.publish:
        return None
    first = inventory.model_copy(update={"publish": inventory.publish[:1]})
    return functools.cache(lambda: resolve(with_publish_access(first).publish[0]))
