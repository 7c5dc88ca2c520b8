"""The release as a sequence of stages over a plan.

Stages so far: check the source tag, export the source once, provision and build every
target in parallel (each droplet destroyed as soon as its artifacts are verified), and
destroy whatever is left in every case.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.artifacts import Artifact
from orchestrator.build import BuildStage, TargetResult
from orchestrator.cloud.droplets import CreatedDroplet, RunDroplets, check_capacity
from orchestrator.cloud.endpoint import open_client
from orchestrator.fleet import HostAccess
from orchestrator.inventory import Inventory
from orchestrator.plan import Plan
from orchestrator.progress import Progress
from orchestrator.source import export_source, resolve_tag
from orchestrator.sshkeys import generate_keypair


@dataclass(frozen=True)
class RunPaths:
    """Where one run keeps its files."""

    workspace: Path
    run_id: str

    @property
    def run_dir(self) -> Path:
        """Journal, source archive, artifact bundles and verified artifacts."""
        return self.workspace / ".orchestrator" / "runs" / self.run_id

    @property
    def log_dir(self) -> Path:
        """One build log per target."""
        return self.workspace / "logs" / self.run_id

    @property
    def report(self) -> Path:
        """The HTML report."""
        return self.workspace / "reports" / f"{self.run_id}.html"


def static_hosts(inventory: Inventory) -> dict[str, HostAccess]:
    """SSH access to the inventory's static hosts, with their known host keys."""
    return {
        host.name: HostAccess(
            name=host.name,
            address=host.address,
            port=host.port,
            user=host.user,
            host_key=host.host_key,
            identity_file=str(host.identity_file) if host.identity_file else None,
        )
        for host in inventory.cloud.hosts
    }


def build_targets(
    inventory: Inventory,
    plan: Plan,
    progress: Progress,
    *,
    on_stage: Callable[[BuildStage], None] = lambda _stage: None,
    on_created: Callable[[CreatedDroplet], None] | None = None,
    on_destroyed: Callable[[CreatedDroplet], None] | None = None,
    on_verified: Callable[[TargetResult], None] | None = None,
    skip: Mapping[str, tuple[Artifact, ...]] | None = None,
) -> list[TargetResult]:
    """Build every target of ``plan``; every droplet of the run is gone when this returns.

    ``on_stage`` receives the build stage before it starts, so a signal handler can stop it.
    """
    paths = RunPaths(inventory.workspace, plan.run_id)
    resolve_tag(inventory.project.source, plan.tag)
    source = export_source(
        inventory.project.source, plan.tag, paths.run_dir / Path(plan.source_archive).name
    )
    stop = threading.Event()
    droplets = None
    creating = [
        t for t in plan.targets if t.machine.kind == "droplet" and t.name not in (skip or {})
    ]
    if creating:
        client = open_client(inventory)
        check_capacity(client, min(len(creating), plan.max_droplets))
        droplets = RunDroplets(
            client,
            run_tag=plan.run_tag,
            client_key=generate_keypair(f"{plan.tool_tag}-{plan.run_id}"),
            max_droplets=plan.max_droplets,
            boot_timeout=inventory.cloud.boot_timeout,
            ssh_keys=tuple(inventory.cloud.ssh_keys),
            should_stop=stop.is_set,
            on_created=on_created,
            on_destroyed=on_destroyed,
        )
    stage = BuildStage(
        plan,
        source_archive=source,
        run_dir=paths.run_dir,
        log_dir=paths.log_dir,
        progress=progress,
        droplets=droplets,
        static_hosts=static_hosts(inventory),
        fail_fast=inventory.fail_fast,
        skip=skip,
        on_verified=on_verified,
        stop=stop,
    )
    on_stage(stage)
    try:
        return stage.run()
    except BaseException:
        stage.stop()
        raise
    finally:
        if droplets is not None:
            droplets.destroy_all()
