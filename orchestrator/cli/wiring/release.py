"""The real seams of a release, each picked here, once."""

from __future__ import annotations

from contextlib import AbstractContextManager

from orchestrator.cli.wiring.images import image_registry
from orchestrator.cli.wiring.publish import with_publish_access
from orchestrator.cli.wiring.pyindex import python_index, python_pages
from orchestrator.cli.wiring.sandbox import cloud_client, ensure_sandbox
from orchestrator.cli.wiring.signing import signing_environ
from orchestrator.cloud.buildhosts import BuildHosts
from orchestrator.cloud.droplets import RunDroplets
from orchestrator.cloud.static import StaticHosts, static_access
from orchestrator.config.inventory import Inventory
from orchestrator.images.registry import Registry
from orchestrator.publish.info import Say
from orchestrator.publish.run import resolve_targets
from orchestrator.publish.target import PublishTarget
from orchestrator.pyindex.index import PythonIndex
from orchestrator.release.journal import Journal
from orchestrator.release.plan import Plan
from orchestrator.release.seams import Seams
from orchestrator.release.source import export_source
from orchestrator.remote.sshkeys import generate_keypair
from orchestrator.repo.signing import SigningKey, open_signer
from orchestrator.verify.run import verify_inventory
from orchestrator.verify.table import render_table


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
            python_index=python_pages(inventory),
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

    def index() -> PythonIndex:
        return python_index(inventory)

    return Seams(
        build_hosts,
        publish_targets,
        signing_key,
        export_source,
        verify,
        registry if inventory.registry is not None else None,
        index if inventory.python_index is not None else None,
    )
