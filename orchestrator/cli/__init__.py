"""The Invoke task collection (``tasks.py`` at the project root exposes it)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from invoke.collection import Collection
from invoke.exceptions import Exit, ParseError
from invoke.program import Program

from orchestrator.cli import (
    cloud_tasks,
    deploy_tasks,
    example_tasks,
    init_tasks,
    inventory_tasks,
    keys_tasks,
    publish_tasks,
    release_tasks,
    repo_tasks,
    sandbox_tasks,
    track_tasks,
    verify_tasks,
)

namespace = Collection(
    init_tasks.init,
    release_tasks.plan,
    release_tasks.release,
    release_tasks.teardown,
    release_tasks.unlock,
    release_tasks.status,
    verify_tasks.verify,
    deploy_tasks.deploy,
    deploy_tasks.promote,
    deploy_tasks.namespace,
    inventory_tasks.namespace,
    sandbox_tasks.namespace,
    cloud_tasks.namespace,
    example_tasks.namespace,
    repo_tasks.namespace,
    keys_tasks.namespace,
)
for publish_task in publish_tasks.tasks:
    repo_tasks.namespace.add_task(publish_task)
deploy_tasks.namespace.add_task(track_tasks.track_versions)
# Declared here so that INVOKE_ORCHESTRATOR_INVENTORY and invoke.yaml can override it.
namespace.configure({"orchestrator": {"inventory": None}})


def _bad_flags_exit_2(parse_tasks: Callable[[Program], None]) -> Callable[[Program], None]:
    """Invoke exits 1 on an unknown flag or task; for this tool bad input exits 2.

    ``invoke`` imports this collection before it parses the task arguments, and ``relorch``
    bundles it, so wrapping that step here covers every task of both commands (flags
    before the task name are parsed earlier).
    """

    @functools.wraps(parse_tasks)
    def parse(program: Program) -> None:
        try:
            parse_tasks(program)
        except ParseError as error:
            message = re.sub(
                r"Flag <Argument: ([\w-]+)[^>]*> needed value and was not given one!",
                lambda match: f"--{match[1].replace('_', '-')} needs a value",
                str(error),
            )
            # The program's name, not argv[0]: `python -m invoke` runs as __main__.py.
            command = program.name.lower()
            raise Exit(
                f"error: {message} ({command} --help TASK lists its flags)", code=2
            ) from None

    return parse


Program.parse_tasks = _bad_flags_exit_2(Program.parse_tasks)  # type: ignore[method-assign,assignment]
