"""A family's handlers, by operation class: one handler per class, typed by it.

A family module makes one :class:`Family` and registers each of its operations with it::

    FAMILY = Family("repo")

    @FAMILY.run_wide(Index)
    def index(operation: Index, context: ReleaseContext) -> None: ...

so adding an operation touches the operation class and its family's module only;
:mod:`orchestrator.release.handlers.dispatch` looks handlers up by the operation's class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from orchestrator.engine.executor import Directive
from orchestrator.engine.operations import Operation
from orchestrator.release.handlers.context import ReleaseContext
from orchestrator.release.plan import MachineProgram

Op = TypeVar("Op", bound=Operation)
# A run-wide operation's handler: its directive to the executor (None: go on).
RunWide = Callable[[Op, ReleaseContext], Directive]
# The handler of an operation of a program on a machine: a target's build, or the tests.
InProgram = Callable[[Op, ReleaseContext, MachineProgram], None]


class Family:
    """The handlers of one family of operations, by operation class."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.run_wide_handlers: dict[type[Operation], RunWide[Any]] = {}
        self.program_handlers: dict[type[Operation], InProgram[Any]] = {}

    def run_wide(self, kind: type[Op]) -> Callable[[RunWide[Op]], RunWide[Op]]:
        """Register the handler of the run-wide operations of class ``kind``."""

        def register(handler: RunWide[Op]) -> RunWide[Op]:
            _claim(self.run_wide_handlers, kind, self.name)
            self.run_wide_handlers[kind] = handler
            return handler

        return register

    def in_program(self, kind: type[Op]) -> Callable[[InProgram[Op]], InProgram[Op]]:
        """Register the handler of the operations of class ``kind`` in a machine's program."""

        def register(handler: InProgram[Op]) -> InProgram[Op]:
            _claim(self.program_handlers, kind, self.name)
            self.program_handlers[kind] = handler
            return handler

        return register


def _claim(handlers: dict[type[Operation], Any], kind: type[Operation], family: str) -> None:
    if kind in handlers:
        raise TypeError(f"{family}: {kind.__name__} has a handler already")


def merged(
    families: Iterable[Family],
) -> tuple[dict[type[Operation], RunWide[Any]], dict[type[Operation], InProgram[Any]]]:
    """Every family's run-wide and program handlers; TypeError if two claim one class."""
    run_wide: dict[type[Operation], RunWide[Any]] = {}
    in_program: dict[type[Operation], InProgram[Any]] = {}
    for family in families:
        for kind, handler in family.run_wide_handlers.items():
            _claim(run_wide, kind, family.name)
            run_wide[kind] = handler
        for kind, in_handler in family.program_handlers.items():
            _claim(in_program, kind, family.name)
            in_program[kind] = in_handler
    return run_wide, in_program
