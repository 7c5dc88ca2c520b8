"""Every operation a release plan holds has one handler, in its family's module."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config.inventory import load_inventory
from orchestrator.engine.operations import Operation, RemoteCommand
from orchestrator.release import operations
from orchestrator.release.handlers.dispatch import IN_PROGRAM, RUN_WIDE
from orchestrator.release.handlers.family import Family, merged
from orchestrator.release.plan import PlanOptions, make_plan
from orchestrator.version import Revision, parse_tag

ROOT = Path(__file__).resolve().parents[3]
INVENTORIES = [
    ROOT / "inventory" / "sandbox.yaml",
    ROOT / "tests/unit/golden/inventories/static.yaml",
]
COMMIT = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"


@pytest.mark.parametrize("path", INVENTORIES, ids=lambda path: path.stem)
@pytest.mark.parametrize("tag", ["v1.2.3", "v1.3.0-rc.1"])
def test_every_operation_of_a_plan_has_a_handler(path: Path, tag: str) -> None:
    plan = make_plan(
        load_inventory(path),
        parse_tag(tag),
        Revision(tag, COMMIT),
        "20261122t103005-a1b2c3",
        PlanOptions(verify=True),
    )
    assert all(type(op) in RUN_WIDE for op in (*plan.before, *plan.after))
    assert all(type(op) in IN_PROGRAM for t in plan.targets for op in t.operations)


def test_every_release_operation_class_has_one_handler() -> None:
    defined = {
        value
        for value in vars(operations).values()
        if isinstance(value, type)
        and issubclass(value, Operation)
        and value.__module__ == operations.__name__
        and value is not operations.MachineOperation  # the base of provision and destroy
    }
    assert set(RUN_WIDE) | set(IN_PROGRAM) == defined | {RemoteCommand}
    assert not set(RUN_WIDE) & set(IN_PROGRAM)


def test_a_class_has_one_handler_only() -> None:
    first, second = Family("first"), Family("second")
    first.run_wide(operations.Index)(lambda operation, context: None)
    with pytest.raises(TypeError, match="Index has a handler already"):
        first.run_wide(operations.Index)(lambda operation, context: None)
    second.run_wide(operations.Index)(lambda operation, context: None)
    with pytest.raises(TypeError, match="Index has a handler already"):
        merged([first, second])
