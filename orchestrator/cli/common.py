"""What every task shares: the inventory flag, error reporting and exit codes.

Task modules import what they use at the top, as every module does. ``invoke`` imports
every task module to build the task list, so the few client libraries that take longer to
import than the tool itself (boto3, Fabric and paramiko, python-digitalocean and requests,
rich, python-debian's deb822, python-gnupg, jinja2, ruamel.yaml) are imported where a
connection, a client, a view or a template is first made, in the modules that wrap each:
a task pays only for its own.
"""

from __future__ import annotations

import functools
import math
import os
import select
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

from invoke.context import Context
from invoke.exceptions import Exit

from orchestrator.config.inventory import Inventory, load_inventory
from orchestrator.errors import OrchestratorError, UsageError

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
# relorch.yaml is what `relorch init` writes into a user's repository.
WORKING_INVENTORY = Path("relorch.yaml")
# Only in a checkout of this repository: an installed package has no inventory/ folder.
DEFAULT_INVENTORY = PROJECT_ROOT / "inventory" / "sandbox.yaml"
INVENTORY_HELP = (
    "inventory file (default: orchestrator.inventory from invoke.yaml or "
    "INVOKE_ORCHESTRATOR_INVENTORY, else relorch.yaml here, else this checkout's "
    "inventory/sandbox.yaml)"
)
NO_INVENTORY = (
    "no inventory: pass --inventory FILE, set orchestrator.inventory, "
    "or write relorch.yaml with `relorch init`"
)

# The exit status of a command cut short because its reader went away: the one the shell
# shows for a tool that SIGPIPE killed.
READER_GONE = 128 + signal.SIGPIPE

F = TypeVar("F", bound=Callable[..., Any])


def inventory_path(c: Context, flag: str | None) -> Path:
    """The inventory to use: the flag, else Invoke config, else relorch.yaml, else the sandbox's.

    UsageError when there is none of them (an installed tool outside a repository that
    ran ``relorch init``).
    """
    if flag:
        return Path(flag)
    configured = c.config.get("orchestrator", {}).get("inventory")
    if configured:
        return Path(configured)
    # lexists: a dangling relorch.yaml is chosen and reported, not passed over.
    for candidate in (WORKING_INVENTORY, DEFAULT_INVENTORY):
        if os.path.lexists(candidate):
            return candidate
    raise UsageError(NO_INVENTORY)


def load(c: Context, flag: str | None) -> Inventory:
    """Load and validate the inventory chosen by ``flag`` and the config."""
    return load_inventory(inventory_path(c, flag))


def reports_errors(function: F) -> F:
    """Turn orchestrator errors into a one-line message on stderr and the error's exit code.

    A reader of stdout that went away (``| head`` that read enough) ends the output quietly,
    as it does other command-line tools: no traceback; exit :data:`READER_GONE` when that
    cut the task short, else the task's own code.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except OrchestratorError as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            raise Exit(code=error.exit_code) from None
        except BrokenPipeError:
            if not reader_gone(sys.stdout):
                raise
            raise Exit(code=READER_GONE) from None
        finally:
            # What is still buffered would otherwise meet the closed pipe at exit.
            _flush_or_drop(sys.stdout)

    return wrapper  # type: ignore[return-value]


def reader_gone(stream: TextIO) -> bool:
    """Whether ``stream`` is a pipe whose reader closed it."""
    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError):  # no file descriptor (a test's capture)
        return False


def _write_nowhere(stream: TextIO) -> None:
    """Send what is written to ``stream`` from now on to /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stream.fileno())
    os.close(devnull)


def _flush_or_drop(stream: TextIO, line: str = "") -> None:
    """Write ``line`` to ``stream`` and flush it; if its reader went away, drop it all."""
    try:
        stream.write(line)
        stream.flush()
    except BrokenPipeError:
        if not reader_gone(stream):
            raise
        _write_nowhere(stream)


def progress_printer(stream: TextIO) -> Callable[[str], None]:
    """Print each progress line to ``stream`` at once, and go on when no one reads it.

    A deploy must not stop, go back or be recorded otherwise because its reader left.
    """
    return lambda line: _flush_or_drop(stream, f"{line}\n")


def number_flag(value: str | float, flag: str, *, maximum: float, minimum: float = 0.0) -> float:
    """A finite number from ``minimum`` to ``maximum`` given as ``flag``; UsageError otherwise.

    Numeric flags are declared as strings: invoke's own conversion turns ``abc`` into a
    traceback and accepts ``nan``, ``inf`` and negative numbers.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not minimum <= number <= maximum:  # also false for nan
        shown = str(value)[:40]
        raise UsageError(f"{flag} takes a number from {minimum:g} to {maximum:g}, got {shown!r}")
    return number


def count_flag(value: str | int, flag: str, *, maximum: int, minimum: int = 1) -> int:
    """A whole number from ``minimum`` to ``maximum`` given as ``flag``; UsageError otherwise."""
    text = str(value).strip()
    if not text.isdigit() or len(text) > 9 or not minimum <= int(text) <= maximum:
        raise UsageError(
            f"{flag} takes a whole number from {minimum} to {maximum}, got {text[:40]!r}"
        )
    return int(text)


def now() -> datetime:
    """The current time in UTC: the one place tasks read the clock."""
    return datetime.now(UTC)
