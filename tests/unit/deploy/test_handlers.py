"""Each operation of a deploy finds one handler, in its family's module."""

from __future__ import annotations

import pytest

from orchestrator.deploy.handlers.dispatch import FAMILIES, HANDLERS, merged
from orchestrator.deploy.operations import (
    CheckHealth,
    PrepareSources,
    RecordDeploy,
    Revert,
    TakeDeployLock,
)
from orchestrator.engine.operations import RemoteCommand
from tests.unit.deploy.test_deploy_plan import prod_plan


def test_every_deploy_operation_class_has_one_handler() -> None:
    kinds = {TakeDeployLock, PrepareSources, RemoteCommand, CheckHealth, Revert, RecordDeploy}
    assert set(HANDLERS) == kinds
    assert sum(len(family) for family in FAMILIES) == len(kinds)


def test_every_operation_of_the_golden_plan_finds_its_handler() -> None:
    plan = prod_plan()
    operations = [
        *plan.before,
        *(op for program in plan.hosts for op in program.operations),
        *(op for revert in plan.reverts.values() for op in revert),
        *plan.after,
    ]
    assert {type(op) for op in operations} == set(HANDLERS)


def test_two_families_may_not_claim_one_class() -> None:
    with pytest.raises(TypeError, match="Revert has two handlers"):
        merged([{Revert: HANDLERS[Revert]}, {Revert: HANDLERS[Revert]}])
