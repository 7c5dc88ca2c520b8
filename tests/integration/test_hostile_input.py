"""Hostile flags and inventories: exit 2, one line on stderr, no traceback, no cloud request.

Every case runs ``invoke`` as a user would, against an inventory whose sandbox is not
running: a request to the cloud would start it, so an empty request log proves that
nothing was asked of the cloud before the input was refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.sandbox import control
from tests.integration.conftest import ROOT, SandboxWorld

pytestmark = pytest.mark.integration

Edit = Callable[[dict[str, Any]], None]


def target_field(key: str, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data["targets"][0][key] = value

    return edit


def cloud_field(key: str, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data["cloud"][key] = value

    return edit


BILLION_LAUGHS = "\n".join(
    ["a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']"]
    + [
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)}]"
        for i in range(8)
    ]
)


# (case, the YAML text of the inventory or an edit of the sandbox inventory, what stderr says)
INVENTORIES: list[tuple[str, str | bytes | Edit, str]] = [
    ("binary", bytes(range(256)) * 8, "not UTF-8"),
    ("invalid UTF-8", b"project:\n  name: h\xe9llo\n", "not UTF-8"),
    ("nested brackets", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("nested mappings", "a: " + "{a: " * 50_000 + "1" + "}" * 50_000, "nested too deeply"),
    ("billion laughs", BILLION_LAUGHS + "\nproject: {name: *i}\n", "aliases"),
    ("duplicate keys", "project: {name: a}\nproject: {name: b}\n", "duplicate key 'project'"),
    ("too large", "# " + "x" * (2 << 20) + "\n", "larger than"),
    ("a 5000-digit number", "cloud: {max_droplets: " + "9" * 5000 + "}\n", "cannot be read"),
    ("a recursive alias", "a: &a [*a]\n", "alias"),
    ("a python tag", "project: !!python/object/apply:os.system ['true']\n", "invalid YAML"),
    ("a list", "- project\n- cloud\n", "expected a mapping"),
    ("empty", "", "expected a mapping"),
    ("timeout .inf", target_field("timeout", float("inf")), "targets[0].timeout"),
    ("timeout nan", target_field("timeout", float("nan")), "targets[0].timeout"),
    ("timeout 1e400", target_field("timeout", "1e400"), "targets[0].timeout"),
    ("boot_timeout .inf", cloud_field("boot_timeout", float("inf")), "cloud.boot_timeout"),
    ("max_droplets huge", cloud_field("max_droplets", 10**30), "cloud.max_droplets"),
    ("port out of range", cloud_field("ssh_port", 99_999), "cloud.ssh_port"),
    ("glob [.][.]", target_field("artifacts", ["[.][.]/etc/passwd"]), "artifact glob"),
    ("glob .*", target_field("artifacts", [".*/etc/passwd"]), "artifact glob"),
    ("glob ..", target_field("artifacts", ["dist/../../x"]), "artifact glob"),
    (
        "jinja escape",
        target_field(
            "command", "{{ cycler.__init__.__globals__.os.system('touch /tmp/relorch-jinja') }}"
        ),
        "targets.amd64-deb.command",
    ),
    ("jinja syntax", target_field("command", "{{ version "), "targets.amd64-deb.command"),
    ("jinja unknown variable", target_field("command", "{{ secret }}"), "'secret' is undefined"),
    ("huge bad value", target_field("name", "X" * 100_000), "targets[0].name"),
    ("unknown key", lambda data: data.update(bogus=1), "bogus: unknown key"),
    (
        "hook env names a secret",
        lambda data: data.update(hooks={"env": ["DIGITALOCEAN_ACCESS_TOKEN"]}),
        "hooks.env",
    ),
]

# (case, invoke's arguments, what stderr says)
FLAGS: list[tuple[str, list[str], str]] = [
    ("a 5000-digit number", ["release", "--tag", "v1." + "9" * 5000 + ".0"], "is not a release"),
    ("a hyphen in a pre-release", ["release", "--tag", "v1.3.0-rc-1"], "'-'"),
    ("a newline after the tag", ["release", "--tag", "v1.2.3\n"], "is not a release tag"),
    ("no tag", ["release"], "--tag"),
    ("lock-wait abc", ["release", "--tag", "v1.2.3", "--lock-wait", "abc"], "--lock-wait"),
    ("lock-wait nan", ["release", "--tag", "v1.2.3", "--lock-wait", "nan"], "--lock-wait"),
    ("lock-wait inf", ["release", "--tag", "v1.2.3", "--lock-wait", "inf"], "--lock-wait"),
    ("lock-wait -5", ["release", "--tag", "v1.2.3", "--lock-wait", "-5"], "--lock-wait"),
    ("lock-wait 1e309", ["release", "--tag", "v1.2.3", "--lock-wait", "1e309"], "--lock-wait"),
    ("older-than nan", ["teardown", "--older-than", "nan"], "--older-than"),
    ("older-than inf", ["teardown", "--older-than", "inf"], "--older-than"),
    ("older-than 1e400", ["teardown", "--older-than", "1e400"], "--older-than"),
    ("a bogus run id", ["teardown", "--run-id", "../../x"], "--run-id"),
    ("a bogus channel", ["verify", "--channel", "bogus"], "--channel"),
    ("a bogus version", ["verify", "--version", "1.0;rm -rf /"], "--version"),
    ("an unknown flag", ["release", "--tag", "v1.2.3", "--bogus"], "--bogus"),
    ("a flag without its value", ["release", "--tag"], "--tag"),
    ("an unknown task", ["relase", "--tag", "v1.2.3"], "relase"),
    (
        "expire-days abc",
        ["keys.generate", "--project", "p", "--email", "e", "--expire-days", "x"],
        "--expire-days",
    ),
]

# (case, the --inventory path, relative to the test directory unless absolute, stderr says)
PATHS: list[tuple[str, str, str]] = [
    ("/dev/zero", "/dev/zero", "not a regular file"),
    ("a directory", ".", "not a regular file"),
    ("a FIFO", "fifo", "not a regular file"),
    ("a missing file", "missing.yaml", "not found"),
]


def refused(world: SandboxWorld, args: list[str], expected: str) -> list[str]:
    """Problems with how invoke refused ``args`` (empty when it refused them well)."""
    requests = len(control.request_log(world.settings))
    started = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=20,
            env={**os.environ, "INVOKE_ORCHESTRATOR_INVENTORY": str(world.inventory_path)},
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ["no answer within 20 s"]
    problems = []
    lines = result.stderr.strip().splitlines()
    if result.returncode != 2:
        problems.append(f"exit {result.returncode}")
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr")
    if "Traceback" in result.stderr:
        problems.append("a traceback")
    if expected not in result.stderr:
        problems.append(f"no {expected!r} on stderr")
    if len(result.stderr) > 2000:
        problems.append(f"{len(result.stderr)} characters on stderr")
    if time.monotonic() - started > 10:
        problems.append(f"took {time.monotonic() - started:.0f} s")
    if len(control.request_log(world.settings)) != requests:
        problems.append("the cloud got a request")
    if problems:
        problems.append(f"stderr: {result.stderr[:300]!r}")
    return problems


def test_hostile_input_is_refused_cleanly(sandbox_world: SandboxWorld) -> None:
    world = sandbox_world
    pristine = world.inventory_path.read_text()
    failures = []
    for name, content, expected in INVENTORIES:
        if callable(content):
            data = yaml.safe_load(pristine)
            content(data)
            world.inventory_path.write_text(yaml.safe_dump(data))
        elif isinstance(content, bytes):
            world.inventory_path.write_bytes(content)
        else:
            world.inventory_path.write_text(content)
        problems = refused(world, ["release", "--tag", "v1.2.3"], expected)
        if problems:
            failures.append(f"inventory {name}: {'; '.join(problems)}")
    if Path("/tmp/relorch-jinja").exists():
        Path("/tmp/relorch-jinja").unlink()
        failures.append("inventory jinja escape: the template ran code on the orchestrator")

    world.inventory_path.write_text(pristine)
    for name, args, expected in FLAGS:
        problems = refused(world, args, expected)
        if problems:
            failures.append(f"flags {name}: {'; '.join(problems)}")

    os.mkfifo(world.directory / "fifo")
    for name, path, expected in PATHS:
        full = path if path.startswith("/") else str(world.directory / path)
        problems = refused(world, ["inventory.check", "--inventory", full], expected)
        if problems:
            failures.append(f"--inventory {name}: {'; '.join(problems)}")
    assert not failures, "\n".join(failures)
