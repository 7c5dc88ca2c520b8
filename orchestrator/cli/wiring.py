"""Where the tasks wire the sandbox in, so that the product never has to know of it.

An inventory whose cloud is the sandbox (``cloud.sandbox``) gets its rehearsal parts here,
and only here: the emulator's API end point and token (the sandbox started when a task
first needs it), its repo server's pinned host key and client key for ``publish`` entries
with ``host_key: sandbox``, and its throwaway signing key for ``signing.sandbox_key``.
Everything after that runs exactly as it would against a real account.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager

import paramiko

from orchestrator.cloud.buildhosts import BuildHosts
from orchestrator.cloud.digitalocean import DigitalOceanClient, not_on_network
from orchestrator.cloud.droplets import RunDroplets
from orchestrator.cloud.endpoint import open_client
from orchestrator.cloud.static import StaticHosts, static_access
from orchestrator.commands.deploy import sudoers_file
from orchestrator.config.environments import Environment, ServerHost, TaggedHosts
from orchestrator.config.inventory import Inventory, SshPublish
from orchestrator.config.schema import SANDBOX_HOST_KEY
from orchestrator.deploy.hosts import open_ssh_shell
from orchestrator.deploy.index import Available, available_versions
from orchestrator.deploy.ledger import FailureLedger
from orchestrator.deploy.payload import Compose, payload_of
from orchestrator.deploy.seams import DeploySeams
from orchestrator.errors import CredentialsError, SandboxError, UsageError
from orchestrator.images.registry import Credentials, Registry
from orchestrator.images.served import ServedTag, served_tag
from orchestrator.publish.info import Say
from orchestrator.publish.run import resolve, resolve_targets
from orchestrator.publish.target import PublishTarget
from orchestrator.release.journal import Journal
from orchestrator.release.plan import Plan
from orchestrator.release.seams import Seams
from orchestrator.release.source import export_source
from orchestrator.remote.fleet import HostAccess
from orchestrator.remote.sshkeys import generate_keypair, known_hosts_name
from orchestrator.repo.signing import SigningKey, open_signer, public_key_only
from orchestrator.sandbox import control, reposerver, servers
from orchestrator.sandbox.composeproject import project_files
from orchestrator.sandbox.registry import host_access as registry_host_access
from orchestrator.sandbox.servers import EngineRole, ServerAccess, ServerSpec
from orchestrator.sandbox.signingkey import sandbox_private_key, sandbox_public_key
from orchestrator.verify.run import verify_inventory
from orchestrator.verify.table import render_table

# What the deploy names the registry as, in place of an apt channel.
REGISTRY_CHANNEL = "registry"
# Where a sandbox server's administrator puts the lines of env.sudoers (in its root).
SUDOERS_FILE = "etc/sudoers.d/relorch"


def ensure_sandbox(inventory: Inventory) -> None:
    """Start the inventory's sandbox (and its repo server) unless it runs; nothing otherwise."""
    if inventory.cloud.sandbox is not None:
        control.ensure_running(inventory.cloud.sandbox)


def prepare_release_sandbox(inventory: Inventory) -> None:
    """Start what a release of ``inventory`` uses of its sandbox, before the run shows progress.

    The first start boots the Docker engine image targets build with, which takes a while
    and says so: better before the live view of the targets than inside it.
    """
    if inventory.cloud.sandbox is None:
        return
    if inventory.image_targets:
        control.ensure_images(inventory.cloud.sandbox)
    else:
        control.ensure_running(inventory.cloud.sandbox)


def cloud_client(inventory: Inventory) -> DigitalOceanClient:
    """A client for the inventory's DigitalOcean API: the sandbox's, started if need be."""
    sandbox = inventory.cloud.sandbox
    if sandbox is None:
        return open_client(inventory)
    info = control.ensure_running(sandbox)
    return DigitalOceanClient(info.token, info.api_url)


def _sandbox_server(config: SshPublish, inventory: Inventory) -> SshPublish:
    sandbox = inventory.cloud.sandbox
    if sandbox is None:
        raise UsageError(f"publish {config.name!r}: host_key 'sandbox' needs cloud.sandbox")
    control.ensure_running(sandbox)
    server = reposerver.access(sandbox)
    if (config.host, config.port, config.path) != (server.address, server.port, server.web_root):
        raise UsageError(
            f"publish {config.name!r} uses the sandbox's host key, so host, port and path must "
            f"be the sandbox repo server's: {server.address}, {server.port}, {server.web_root}"
        )
    return config.model_copy(
        update={"host_key": server.host_key, "identity_file": server.identity_file}
    )


def with_publish_access(inventory: Inventory) -> Inventory:
    """The inventory with each ``host_key: sandbox`` target's real key and client key."""
    publish = [
        _sandbox_server(config, inventory)
        if isinstance(config, SshPublish) and config.host_key == SANDBOX_HOST_KEY
        else config
        for config in inventory.publish
    ]
    return inventory.model_copy(update={"publish": publish})


def signing_environ(inventory: Inventory) -> Mapping[str, str]:
    """The environment the signing key is read from: with ``sandbox_key``, the sandbox's key."""
    config = inventory.signing
    if not config.sandbox_key:
        return os.environ
    if inventory.cloud.sandbox is None:
        raise UsageError("signing.sandbox_key needs the sandbox: configure a real key instead")
    armored = sandbox_private_key(inventory.cloud.sandbox, inventory.project.name)
    return {**os.environ, config.key_env: armored}


def release_seams(inventory: Inventory) -> Seams:
    """The real seams of a release of ``inventory``, each picked here, once."""

    def build_hosts(plan: Plan, journal: Journal) -> BuildHosts:
        if inventory.cloud.provider == "static":
            return StaticHosts(static_access(inventory))
        return RunDroplets(
            cloud_client(inventory),
            run_tag=plan.run_tag,
            client_key=generate_keypair(f"{plan.tool_tag}-{plan.run_id}"),
            max_droplets=plan.max_droplets,
            ssh_keys=tuple(inventory.cloud.ssh_keys),
            on_created=journal.droplet_created,
            on_destroyed=journal.droplet_destroyed,
        )

    def publish_targets() -> list[PublishTarget]:
        return resolve_targets(with_publish_access(inventory)) if inventory.publish else []

    def signing_key() -> AbstractContextManager[SigningKey]:
        return open_signer(inventory.signing, signing_environ(inventory))

    def verify(version: str, channel: str, say: Say) -> list[str]:
        ensure_sandbox(inventory)
        results = verify_inventory(
            inventory,
            version=version,
            channel=channel,
            registry=image_registry(inventory) if inventory.registry is not None else None,
            say=say,
        )
        say(render_table(results))
        return [
            f"{r.repository} {r.client} {r.channel} {r.arch}: {r.detail}"
            for r in results
            if not r.ok
        ]

    def registry() -> Registry:
        return image_registry(inventory)

    return Seams(
        build_hosts,
        publish_targets,
        signing_key,
        export_source,
        verify,
        registry if inventory.registry is not None else None,
    )


def image_registry(inventory: Inventory, environ: Mapping[str, str] = os.environ) -> Registry:
    """The inventory's container registry, logged in: the sandbox's, or from the environment."""
    config = inventory.registry
    if config is None:
        raise UsageError("the inventory has no registry: add a 'registry' section")
    if config.sandbox:
        if inventory.cloud.sandbox is None:
            raise UsageError(
                "registry.sandbox names the sandbox's registry, which needs cloud.sandbox"
            )
        # Reading and pushing need only the registry; the droplets' engine boots with them.
        access = control.ensure_registry(inventory.cloud.sandbox)
        if config.url != access.url:
            raise UsageError(
                f"registry.url must be the sandbox registry's, {access.url} "
                "(cloud.sandbox.registry_address and registry_port)"
            )
        return Registry(access.url, Credentials(access.username, access.password))
    username, password = environ.get(config.username_env), environ.get(config.password_env)
    if bool(username) != bool(password):
        raise CredentialsError(
            f"set both {config.username_env} and {config.password_env} to log in to "
            f"{config.url}, or neither for a registry without login"
        )
    return Registry(config.url, Credentials(username, password) if username and password else None)


def _server_specs(inventory: Inventory, environment: Environment) -> list[ServerSpec]:
    """The sandbox servers of ``environment``, set up as their administrator would.

    A login other than root is a user with the sandbox's client key and the sudoers lines
    ``env.sudoers`` prints; a Compose environment's servers run Docker, logged in to pull.
    """
    hosts = [h for h in environment.listed_hosts if h.host_key == SANDBOX_HOST_KEY]
    sandbox = inventory.cloud.sandbox
    if sandbox is None or not hosts:
        return []
    payload = payload_of(inventory, environment)
    engine: EngineRole | None = None
    pull_login = None
    files: dict[str, str] = {}
    if isinstance(payload, Compose):
        control.ensure_registry(sandbox)
        access = registry_host_access(sandbox)
        # The hosts log in to, and their project names, the image as the deploy pulls it.
        registry = payload.reference.partition("/")[0]
        engine, pull_login = "run", (registry, access.username, access.password)
        files = project_files(payload.project, payload.reference)
    return [
        ServerSpec(
            h.name, h.address, h.port, engine=engine, pull_login=pull_login,
            users=() if h.user == "root" else (h.user,),
            files=tuple((files | _sudoers(environment, h)).items()),
        )
        for h in hosts
    ]  # fmt: skip


def _sudoers(environment: Environment, host: ServerHost) -> dict[str, str]:
    if host.become != "sudo":
        return {}
    return {SUDOERS_FILE: sudoers_file(environment.name, [host.user])}


def _sandbox_servers(inventory: Inventory, environment: Environment) -> dict[str, ServerAccess]:
    sandbox = inventory.cloud.sandbox
    if sandbox is None or not any(h.host_key == SANDBOX_HOST_KEY for h in environment.listed_hosts):
        return {}
    control.ensure_running(sandbox)
    try:
        return servers.ensure_servers(sandbox, _server_specs(inventory, environment))
    except SandboxError as error:
        raise UsageError(f"environment {environment.name}: {error}") from None


def sandbox_server_specs(inventory: Inventory) -> list[ServerSpec]:
    """Every sandbox server the inventory's environments list (``host_key: sandbox``)."""
    return [spec for e in inventory.environments for spec in _server_specs(inventory, e)]


def _tagged(
    inventory: Inventory, environment: Environment, tagged: TaggedHosts
) -> list[HostAccess]:
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
        sandbox = _sandbox_servers(inventory, environment)
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
