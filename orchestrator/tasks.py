"""The tasks for a project's ``tasks.py``: ``from orchestrator.tasks import namespace``.

The one name of the package that ``invoke`` users import; ``relorch`` runs the same
namespace with no ``tasks.py`` (``orchestrator.cli``).
"""

from orchestrator.cli import namespace

__all__ = ["namespace"]
