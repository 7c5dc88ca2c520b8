"""The inventory's container registry: the sandbox's, or one logged in to from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

from orchestrator.config.inventory import Inventory
from orchestrator.errors import CredentialsError, UsageError
from orchestrator.images.registry import Credentials, Registry
from orchestrator.sandbox import control


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
