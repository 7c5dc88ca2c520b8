"""A provisioning round trip: create a plan's droplets, prove SSH works, destroy them.

``invoke cloud.check`` uses it to test a token, images, sizes and regions before a real
release, and the sandbox rehearsal uses it to show the cloud side works end to end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from orchestrator.cloud.buildhosts import Machine
from orchestrator.cloud.digitalocean import DigitalOceanClient
from orchestrator.cloud.droplets import RunDroplets
from orchestrator.errors import CloudError
from orchestrator.remote import sshexec
from orchestrator.remote.sshkeys import generate_keypair


class RunOfDroplets(Protocol):
    """The droplets of a run to check (a release's plan is one): named, tagged and capped."""

    @property
    def run_id(self) -> str:
        """The run's id."""

    @property
    def run_tag(self) -> str:
        """The tag every droplet of the run carries."""

    @property
    def tool_tag(self) -> str:
        """The tool's tag, which also names the run's client key."""

    @property
    def max_droplets(self) -> int:
        """How many droplets may be alive at once."""

    @property
    def droplets(self) -> tuple[Machine, ...]:
        """The droplets to create."""


@dataclass(frozen=True)
class MachineCheck:
    """What one droplet answered, and how long it took to become usable."""

    name: str
    address: str
    output: str
    seconds_to_ready: float


def check_droplets(
    client: DigitalOceanClient,
    plan: RunOfDroplets,
    *,
    boot_timeout: float,
    ssh_keys: tuple[int | str, ...] = (),
    command: str = "uname -m",
    report: Callable[[str], None] = lambda _line: None,
) -> list[MachineCheck]:
    """Create every droplet of ``plan`` in parallel, run ``command`` on each, destroy them all.

    The droplets are destroyed in every case, also when one of them fails.
    """
    lock = threading.Lock()

    def say(line: str) -> None:
        # One line at a time: the droplets report from parallel threads.
        with lock:
            report(line)

    droplets = RunDroplets(
        client,
        run_tag=plan.run_tag,
        client_key=generate_keypair(f"{plan.tool_tag}-{plan.run_id}"),
        max_droplets=plan.max_droplets,
        ssh_keys=ssh_keys,
        on_created=lambda d: say(f"created {d.name} (id {d.id})"),
    )
    droplets.check_capacity(plan.droplets)

    def check(machine: Machine) -> MachineCheck:
        live, connection = droplets.provision(machine, boot_timeout)
        output = sshexec.Capture(64 * 1024, machine.name)
        try:
            status = sshexec.run(
                connection, command, timeout=60, stdout=output, stderr=output, where=machine.name
            )
        finally:
            connection.close()
        if status != 0:
            raise CloudError(f"{machine.name}: {command!r} exited {status}: {output.text()[-200:]}")
        say(f"{machine.name}: {live.access.address} answered over SSH with its pinned host key")
        droplets.destroy(live.id)
        say(f"destroyed {machine.name}")
        return MachineCheck(
            machine.name,
            live.access.address,
            output.text().strip(),
            live.ready_at - live.requested_at,
        )

    try:
        with ThreadPoolExecutor(max_workers=max(1, len(plan.droplets))) as pool:
            futures = [pool.submit(check, machine) for machine in plan.droplets]
            results = [future.result() for future in futures]
    finally:
        started = time.monotonic()
        released = droplets.release_all()
        if released.destroyed:
            say(f"destroyed {', '.join(released.destroyed)} in {time.monotonic() - started:.1f}s")
        if released.alive:
            say(f"still alive: {', '.join(released.alive)}: invoke teardown --run-id {plan.run_id}")
    if released.alive:
        raise CloudError(
            f"droplets {', '.join(released.alive)} are still alive "
            f"({'; '.join(released.errors)}): run invoke teardown --run-id {plan.run_id}"
        )
    return results
