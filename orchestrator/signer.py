"""Which key signs for an inventory: its configured key, or the sandbox's throwaway key."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from orchestrator.errors import UsageError
from orchestrator.inventory import Inventory
from orchestrator.repo.options import SigningConfig
from orchestrator.repo.signing import Signer, open_signer
from orchestrator.sandbox.signingkey import sandbox_private_key


def signing_config(inventory: Inventory) -> tuple[SigningConfig, Mapping[str, str]]:
    """The signing config and the environment to read key variables from."""
    config = inventory.signing
    if not config.sandbox_key:
        return config, os.environ
    if inventory.cloud.sandbox is None:
        raise UsageError("signing.sandbox_key needs the sandbox: configure a real key instead")
    armored = sandbox_private_key(inventory.cloud.sandbox, inventory.project.name)
    return config, {**os.environ, config.key_env: armored}


@contextmanager
def opened_signer(inventory: Inventory) -> Iterator[Signer]:
    """Open (and so check) the signing key before anything is built."""
    config, environ = signing_config(inventory)
    with open_signer(config, environ) as signer:
        yield signer
