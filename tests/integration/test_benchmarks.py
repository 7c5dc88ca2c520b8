"""Every benchmark runs at its smallest size, so that none rots between the runs people make.

Each runs as a person runs it (``.venv/bin/python benchmarks/NAME.py``, the virtual
environment not on PATH), must exit 0 and print its figures. Nothing here is timed: the
figures are for people, and this machine is busy with the rest of the suite.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration

BENCHMARKS = ROOT / "benchmarks"
SECONDS = r"\d+\.\d+ ?s"

# Per benchmark: its smallest run, and a line of figures it must print (a pattern).
SMALLEST: dict[str, tuple[list[str], list[str]]] = {
    "build_output": (
        ["--sizes", "1", "--fabric-sizes", "1"],
        [r"^sshexec \+ LogStream\s+lines\s+1\s+\d+\.\d+", r"^Fabric Connection\.run\s+no newline\s+1\s"],
    ),
    "deploy": (
        ["--sizes", "1"],
        [rf"^1 servers \(booted in {SECONDS}\): rolling deploy {SECONDS}", r"^noop from 1 to 1 servers"],
    ),
    "environments_page": (
        [],
        [r"^3 environments, 20 hosts, 200 deploy records: rendered in \d+ ms"],
    ),
    "fanout": (
        ["--sizes", "1", "--sleep", "0"],
        [rf"^N=1\s+S=0s\s+total\s+{SECONDS}\s+longest build\s+{SECONDS}"],
    ),
    "publish": (
        ["--n", "20", "--latency", "0"],
        [rf"^\s+this tool\s+cold\s+{SECONDS}", rf"^\s+aptly\s+noop\s+{SECONDS}", r"^\s+cold\s+\d+\.\dx"],
    ),
    "repo_index": (
        ["--n", "20", "--repeat", "1"],
        [r"^\s+deb cold\s+this tool", r"^\s+rpm add\s+invoke repo\.build", r"^peak memory of this tool"],
    ),
    "startup": (
        ["--runs", "1"],
        [rf"^relorch --list\s+{SECONDS}", r"^importing the task collection: \d+ ms"],
    ),
}  # fmt: skip


def test_every_benchmark_is_run_here() -> None:
    assert {path.stem for path in BENCHMARKS.glob("*.py")} - {"__init__"} == set(SMALLEST)


@pytest.mark.parametrize("name", sorted(SMALLEST))
def test_a_benchmark_runs_at_its_smallest_size_and_prints_its_figures(name: str) -> None:
    arguments, figures = SMALLEST[name]
    own_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != own_bin)
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{name}.py"), *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        env={**os.environ, "PATH": path},
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    missing = [f for f in figures if not re.search(f, result.stdout, re.MULTILINE)]
    assert not missing, f"{name} printed no line like {missing}:\n{result.stdout[-3000:]}"
