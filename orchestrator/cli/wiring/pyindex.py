"""The inventory's Python package index: the sandbox's, or one whose token is in the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

from orchestrator.config.inventory import Inventory
from orchestrator.errors import CredentialsError, UsageError
from orchestrator.pyindex.index import Backoff, PythonIndex
from orchestrator.sandbox import control


def check_python_token(inventory: Inventory, environ: Mapping[str, str] = os.environ) -> None:
    """CredentialsError (exit 2) before anything is created when the index's token is unset."""
    config = inventory.python_index
    if config is None or config.sandbox or not any(t.python_artifacts for t in inventory.targets):
        return
    if not environ.get(config.token_env):
        raise CredentialsError(
            f"set {config.token_env} to the upload token of {config.url} (python_index."
            "token_env): the targets' Python distributions are uploaded there"
        )


def python_pages(inventory: Inventory) -> str | None:
    """The simple URL ``invoke verify`` installs from, if targets build Python distributions."""
    config = inventory.python_index
    if config is None or not any(t.python_artifacts for t in inventory.targets):
        return None
    if config.sandbox and inventory.cloud.sandbox is not None:
        return control.ensure_python_index(inventory.cloud.sandbox).simple_url
    return config.pages


def python_index(inventory: Inventory, environ: Mapping[str, str] = os.environ) -> PythonIndex:
    """The inventory's Python index with its login: the sandbox's, or from the environment."""
    config = inventory.python_index
    if config is None:
        raise UsageError("the inventory has no python_index: add a 'python_index' section")
    backoff = Backoff(attempts=config.attempts, first=config.backoff)
    if config.sandbox:
        if inventory.cloud.sandbox is None:
            raise UsageError(
                "python_index.sandbox names the sandbox's index, which needs cloud.sandbox"
            )
        access = control.ensure_python_index(inventory.cloud.sandbox)
        if config.url.rstrip("/") != access.url:
            raise UsageError(
                f"python_index.url must be the sandbox index's, {access.url} "
                "(cloud.sandbox.python_index_address and python_index_port)"
            )
        return PythonIndex(access.url, access.simple_url, access.username, access.token, backoff)
    check_python_token(inventory, environ)
    return PythonIndex(
        config.url, config.pages, config.username, environ[config.token_env], backoff
    )
