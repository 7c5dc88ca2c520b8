"""The HTML report of a deploy, promotion or rollback: ``reports/<run id>.html``.

Rendered from the same summary ``--json`` prints (:meth:`DeployOutcome.to_json`): per host
what it ran before, whether the deploy touched it, its health and where it went back, and a
timeline of its steps with what each said on failure. Self-contained, no script.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.engine.atomic import write_atomically
from orchestrator.templatefiles import templates_environment

# Pixels per second of a step's bar in the timeline.
SCALE = 40.0


def render_deploy_report(summary: dict[str, Any], project: str, made: datetime) -> str:
    """The report page of one deploy's summary (autoescaped: hosts wrote some of it)."""
    template = templates_environment().get_template("deploy-report.html.j2")
    return template.render(
        outcome=summary, project=project, made=made.strftime("%Y-%m-%d %H:%M:%S UTC"),
        scale=SCALE,
    )  # fmt: skip


def write_deploy_report(summary: dict[str, Any], project: str, workspace: Path) -> Path:
    """Write the report of ``summary`` under ``workspace/reports`` atomically; its path."""
    path = workspace / "reports" / f"{summary['run_id']}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, render_deploy_report(summary, project, datetime.now(UTC)), durable=True)
    return path
