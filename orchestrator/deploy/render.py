"""Deploy plans and environment status as text for the terminal; pure."""

from __future__ import annotations

import re
from typing import Any

from orchestrator.deploy.plan import DeployPlan

# What a host wrote (records, lock details) is printed, never obeyed: no terminal escapes.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _shown(value: object) -> str:
    return _CONTROL.sub("?", str(value))


def describe_plan(plan: DeployPlan) -> str:
    """Every host, batch and command of a deploy plan, in the order they run."""
    lines = [
        f"{plan.action} {plan.version} (installed as {plan.installed_version}) to {plan.environment}, "
        f"run {plan.run_id}, from {plan.repository} ({', '.join(plan.channels)})",
        "before:",
        *(f"  {op.kind} @ {op.where}: {op.describe()}" for op in plan.before),
    ]
    for number, batch in enumerate(plan.batches, start=1):
        wait = f" (after {plan.batch_wait:g}s)" if number > 1 and plan.batch_wait else ""
        lines.append(f"batch {number}{wait}: {', '.join(p.name for p in batch)}")
        for program in batch:
            login = "" if program.login == "root" else f", as {program.login}"
            lines.append(f"  {program.name} ({program.address}{login}):")
            lines.extend(f"    {op.name}: {op.describe()}" for op in program.operations)
    lines.append("if a host fails, every host the deploy touched:")
    first = next(iter(plan.reverts.values()), ())
    lines.extend(f"  {op.name}: {op.describe()}" for op in first)
    lines.append("after, however it ended:")
    lines.extend(f"  {op.kind}: {op.describe()}" for op in plan.after)
    lines.append("a host already at the version is left alone")
    return "\n".join(lines)


def _installed(host: dict[str, Any]) -> str:
    """What a host runs: the release, else what dpkg holds half-way, else nothing."""
    if host["installed"]:
        return str(host["installed"])
    held = host["unsettled"].items()
    return ", ".join(f"{p} {u['version']} {u['state']}" for p, u in held) or "nothing"


def _health(host: dict[str, Any]) -> str:
    """The health check the last deploy recorded, said as such: env.status runs none."""
    if not host["last_health"]:
        return "health not recorded"
    return f"health {host['last_health']} (recorded {host['last_health_at']}, not checked now)"


def _service_lines(services: dict[str, dict[str, Any]]) -> list[str]:
    """An environment's services, one line each: a row of the services-by-environments matrix."""
    lines = []
    for name, view in services.items():
        digest = f"; digest {view['digest']}" if view["digest"] else ""
        drift = f"  DRIFT: {'; '.join(view['drift'])}" if view["drift"] else ""
        lines.append(
            f"  service {name}: version {view['version']!r} -> desired "
            f"{view['desired'] or 'nothing'}; runs {view['running'] or 'mixed/none'}{digest}{drift}"
        )
    return lines


def describe_status(views: list[dict[str, Any]]) -> str:
    """``env.status`` as text: one block per environment, one line per host."""
    lines: list[str] = []
    for view in views:
        desired = view["desired"] or f"nothing ({view['desired_problem'] or 'no match'})"
        lines.append(
            f"{view['environment']}: version {view['version']!r} -> desired {desired}; "
            f"runs {view['running'] or 'mixed/none'}; lock: {view['lock'] or 'free'}"
        )
        if len(view["services"]) > 1:
            lines.extend(_service_lines(view["services"]))
        if view["failed_versions"]:
            lines.append(f"  failed here: {', '.join(view['failed_versions'])}")
        for upstream, failed in view["failed_upstream"].items():
            lines.append(f"  failed upstream in {upstream} (never taken here): {', '.join(failed)}")
        for name, host in view["hosts"].items():
            units = " ".join(f"{u}={s}" for u, s in host["units"].items()) or "-"
            record = host["last_record"]
            last = (
                f"{record['result']} {record['version']} at {record['time']} by {record['by']}"
                if record
                else "no record"
            )
            drift = f"  DRIFT: {'; '.join(host['drift'])}" if host["drift"] else ""
            lines.append(
                f"  {name}: installed {_installed(host)}; units now {units}; "
                f"{_health(host)}; last {last}{drift}"
            )
        promotion = view.get("next_promotion")
        if promotion:
            if promotion["eligible"]:
                already = " (runs it already)" if promotion["version"] == view["running"] else ""
                lines.append(
                    f"  next promotion from {promotion['from']}: {promotion['version']}{already}"
                )
            else:
                lines.append(
                    f"  next promotion from {promotion['from']}: none ({promotion['why']})"
                )
    return "\n".join(_shown(line) for line in lines)
