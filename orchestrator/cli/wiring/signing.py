"""The sandbox's throwaway signing key, for ``signing.sandbox_key``."""

from __future__ import annotations

import os
from collections.abc import Mapping

from orchestrator.config.inventory import Inventory
from orchestrator.errors import UsageError
from orchestrator.sandbox.signingkey import sandbox_private_key


def signing_environ(inventory: Inventory) -> Mapping[str, str]:
    """The environment the signing key is read from: with ``sandbox_key``, the sandbox's key."""
    config = inventory.signing
    if not config.sandbox_key:
        return os.environ
    if inventory.cloud.sandbox is None:
        raise UsageError("signing.sandbox_key needs the sandbox: configure a real key instead")
    armored = sandbox_private_key(inventory.cloud.sandbox, inventory.project.name)
    return {**os.environ, config.key_env: armored}
