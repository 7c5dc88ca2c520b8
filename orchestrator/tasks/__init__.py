"""The Invoke task collection (``tasks.py`` at the project root exposes it)."""

from __future__ import annotations

from invoke.collection import Collection

from orchestrator.tasks import (
    cloud_tasks,
    example_tasks,
    inventory_tasks,
    keys_tasks,
    publish_tasks,
    release_tasks,
    repo_tasks,
    sandbox_tasks,
    verify_tasks,
)

namespace = Collection(
    release_tasks.plan,
    release_tasks.release,
    release_tasks.teardown,
    release_tasks.status,
    verify_tasks.verify,
    inventory_tasks.namespace,
    sandbox_tasks.namespace,
    cloud_tasks.namespace,
    example_tasks.namespace,
    repo_tasks.namespace,
    keys_tasks.namespace,
)
for publish_task in publish_tasks.tasks:
    repo_tasks.namespace.add_task(publish_task)
# Declared here so that INVOKE_ORCHESTRATOR_INVENTORY and invoke.yaml can override it.
namespace.configure({"orchestrator": {"inventory": None}})
