"""Invoke entry point: ``invoke --list`` shows the release orchestrator's tasks."""

from orchestrator.tasks import namespace

__all__ = ["namespace"]
