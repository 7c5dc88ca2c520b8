"""The environments page: what runs where, at a glance, from the same data as env.status.

:func:`page_data` takes the views ``invoke env.status --json`` prints, for every
environment in promotion order, adds each one's last deploys (from its hosts' records) and
the published releases with the environments that run each. :func:`render_page` turns it
into one self-contained HTML page (no script, no external asset); every value is
autoescaped, since hosts wrote some of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.config.environments import Environment
from orchestrator.deploy.index import Available
from orchestrator.semver import precedence_key
from orchestrator.templatefiles import templates_environment

# The deploys each environment shows, newest first.
LAST_DEPLOYS = 20
STAMP = "%Y-%m-%d %H:%M:%S UTC"


def promotion_order(environments: Sequence[Environment]) -> list[Environment]:
    """Environments with each after the one it is promoted from (roots in inventory order)."""
    by_name = {e.name: e for e in environments}

    def depth(environment: Environment) -> int:
        steps = 0
        while environment.upstream is not None and environment.upstream in by_name:
            environment = by_name[environment.upstream]
            steps += 1
        return steps

    return sorted(environments, key=depth)


def last_deploys(view: Mapping[str, Any], reports: Path | None) -> list[dict[str, Any]]:
    """An environment's newest deploys from its hosts' records, one line per run.

    Each links to its report in ``reports`` when there is one; None links none.
    """
    runs: dict[str, dict[str, Any]] = {}
    for host in view["hosts"].values():
        for record in host["records"]:
            entry = runs.setdefault(record["run_id"], {**record, "hosts": []})
            entry["hosts"].append(record["host"])
    ordered = sorted(runs.values(), key=lambda r: (r["time"], r["run_id"]), reverse=True)
    for entry in ordered:
        report = reports / f"{entry['run_id']}.html" if reports is not None else None
        entry["report"] = report.as_uri() if report is not None and report.is_file() else None
    return ordered[:LAST_DEPLOYS]


def release_rows(
    views: Sequence[Mapping[str, Any]],
    offered: Mapping[str, Available],
    published_at: Mapping[str, datetime],
) -> list[dict[str, Any]]:
    """Each published version (newest first): its channel, when, the environments running it.

    ``published_at`` is keyed by package version (see :func:`~orchestrator.deploy.index.
    published_times`); a version it lacks shows no time.
    """
    rows = []
    for version in sorted(offered, key=precedence_key, reverse=True):
        entry = offered[version]
        running = [
            view["environment"]
            for view in views
            if any(version in _runs(host) for host in view["hosts"].values())
        ]
        when = published_at.get(entry.installed_version)
        rows.append(
            {
                "version": version,
                "channel": entry.channel,
                "published": when.astimezone(UTC).strftime(STAMP) if when else None,
                "environments": running,
            }
        )
    return rows


def _runs(host: Mapping[str, Any]) -> set[str]:
    """What a host runs: its version, and each of its services' (an environment of several)."""
    return {host["installed"], *(s["installed"] for s in host.get("services", {}).values())}


def page_data(
    project: str,
    views: Sequence[Mapping[str, Any]],
    offered: Mapping[str, Available],
    published_at: Mapping[str, datetime],
    reports: Path | None,
    made: datetime,
) -> dict[str, Any]:
    """Everything the page shows: the env.status views, their deploys, the releases.

    ``reports`` is where deploy reports are (None for a page read elsewhere, which links
    none of them).
    """
    return {
        "project": project,
        "made": made.astimezone(UTC).strftime(STAMP),
        "environments": [{**view, "deploys": last_deploys(view, reports)} for view in views],
        "rows": max((len(view["hosts"]) for view in views), default=0),
        # The services-by-environments matrix: every service some environment runs.
        "services": list(dict.fromkeys(name for view in views for name in view["services"])),
        "releases": release_rows(views, offered, published_at),
    }


def render_page(data: Mapping[str, Any]) -> str:
    """The page as HTML."""
    return templates_environment().get_template("environments.html.j2").render(page=data)
