"""Plain-text views of plans and droplet lists for the terminal and CI logs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from orchestrator.cloud.digitalocean import DropletInfo
from orchestrator.engine.operations import Operation
from orchestrator.release.plan import Plan


def _operation_line(operation: Operation) -> str:
    always = " (always)" if operation.cleanup else ""
    return f"[{operation.name}] ({operation.where}){always} {operation.describe()}"


def plan_text(plan: Plan) -> str:
    """The plan as a human-readable report: run, then every operation in the order it runs."""
    lines = [
        f"run id:    {plan.run_id}",
        f"project:   {plan.project}",
        f"tag:       {plan.tag}",
        f"source:    {plan.ref} at commit {plan.commit}",
        f"version:   {plan.version}",
        f"channel:   {plan.channel}",
        f"provider:  {plan.provider}"
        + (f" (at most {plan.max_droplets} droplets at once)" if plan.droplets else ""),
        f"tags:      {plan.tool_tag}, {plan.run_tag}",
        "",
        "before the builds:",
        *(f"  {_operation_line(op)}" for op in plan.before),
        "",
        *_gate_lines(plan),
        f"targets ({len(plan.targets)}, all at once"
        + ("; one failing stops the others" if plan.fail_fast else "")
        + "):",
    ]
    for target in plan.targets:
        accepted, limits = target.accepted, target.limits
        epoch = f"{accepted.epoch}:" if accepted.epoch else ""
        arch = target.rpm_arch if target.format == "rpm" else target.arch
        if accepted.arch_independent:
            arch += f"; {', '.join(accepted.arch_independent)} also arch-independent"
        lines.append(
            f"  {target.name}: {target.arch} {target.format} (timeout {target.timeout:.0f}s)"
        )
        accepts = (
            f"an image labelled version {accepted.image_version} for linux/{arch}"
            if target.format == "image"
            else f"{', '.join(accepted.names)} {epoch}{accepted.version} ({arch})"
        )
        lines.append(
            f"    accepts: {accepts}; "
            f"bundle up to {_size(limits.bundle_bytes)}, {_size(limits.unpacked_bytes)} "
            f"unpacked, {limits.files} files; log up to {_size(limits.log_bytes)}"
        )
        lines.extend(f"    {_operation_line(op)}" for op in target.operations)
    lines += ["", "after the builds:", *(f"  {_operation_line(op)}" for op in plan.after)]
    return "\n".join(lines)


def _gate_lines(plan: Plan) -> list[str]:
    """The tests' program, or that --skip-tests left them out; nothing without tests."""
    gate = plan.gate
    if gate is None:
        return ["tests: skipped (--skip-tests)", ""] if plan.tests_skipped else []
    return [
        f"tests (timeout {gate.timeout:.0f}s, before any build machine exists; "
        "a failure ends the run):",
        *(f"    {_operation_line(op)}" for op in gate.operations),
        "",
    ]


def _size(count: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size and count % size == 0:
            return f"{count // size} {unit}"
    return f"{count} bytes"


def droplets_table(droplets: Sequence[DropletInfo], now: datetime) -> str:
    """Live droplets with age, size and cost so far, plus a total line."""
    if not droplets:
        return "no droplets"
    rows = [("NAME", "ID", "STATUS", "SIZE", "AGE", "COST", "TAGS")]
    for d in droplets:
        rows.append(
            (
                d.name,
                str(d.id),
                d.status,
                d.size,
                _age(d.age_seconds(now)),
                f"${d.cost_so_far(now):.4f}",
                ",".join(d.tags),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    total = sum(d.cost_so_far(now) for d in droplets)
    lines.append(f"{len(droplets)} droplet(s), ${total:.4f} so far")
    return "\n".join(lines)


def _age(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
