"""``relorch``: the console command, the same tasks as ``invoke`` with no tasks.py.

Fabric's ``fab`` is built the same way: an Invoke :class:`~invoke.program.Program` over
a bundled namespace. The configuration stays Invoke's (files ``invoke.yaml``, variables
``INVOKE_*``), so ``orchestrator.inventory`` is set the same way for both commands.
"""

from __future__ import annotations

import os

from invoke.program import Program

import orchestrator
from orchestrator.cli import namespace


class Relorch(Program):
    """Invoke's program over the orchestrator's namespace."""

    def parse_collection(self) -> None:
        """Take the bundled namespace, and ``invoke.yaml`` from the current directory.

        ``invoke`` reads the project's ``invoke.yaml`` from beside the tasks.py it found;
        with no tasks.py to find, the project is where relorch runs, as for relorch.yaml.
        """
        super().parse_collection()
        self.config.set_project_location(os.getcwd())
        self.config.load_project()

    def print_version(self) -> None:
        """``relorch --version``: the installed release-orchestrator's version."""
        print(f"{self.name} {orchestrator.__version__}")


program = Relorch(namespace=namespace, name="relorch", binary="relorch", binary_names=["relorch"])


def main() -> None:
    """The ``relorch`` console script (``[project.scripts]`` in pyproject.toml)."""
    program.run()
