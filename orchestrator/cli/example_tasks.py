"""``invoke example.init``: the example project as a tagged git repository."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from orchestrator.cli.common import INVENTORY_HELP, PROJECT_ROOT, load, reports_errors
from orchestrator.sandbox.example import DEFAULT_TAGS, init_example_repository


@task(
    help={
        "tag": "a tag to create (repeatable; default v1.2.3, v1.2.4, v1.3.0-rc.1)",
        "broken": "a tag whose build fails its health check, e.g. v1.2.5 (repeatable)",
        "inventory": INVENTORY_HELP,
    },
    iterable=["tag", "broken"],
)
@reports_errors
def init(
    c: Context,
    tag: list[str] | None = None,
    broken: list[str] | None = None,
    inventory: str | None = None,
) -> None:
    """Create the inventory's source repository from examples/hello, with release tags."""
    loaded = load(c, inventory)
    tags = tag or list(DEFAULT_TAGS)
    broken = broken or []
    added = init_example_repository(
        PROJECT_ROOT / "examples" / "hello", loaded.project.source, tags, broken
    )
    every = [*tags, *(name for name in broken if name not in tags)]
    failing = f"; failing health check: {', '.join(broken)}" if broken else ""
    print(f"{loaded.project.source}: tags {', '.join(every)} ({len(added)} new){failing}")


namespace = Collection("example", init)
