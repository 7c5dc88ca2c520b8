"""The ``relorch`` console script: invoke's tasks with no tasks.py, invoke's configuration."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import orchestrator

ROOT = Path(__file__).resolve().parents[3]
# The console script pip installed beside this interpreter, as a user runs it.
RELORCH = Path(sys.executable).parent / "relorch"


def relorch(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    return subprocess.run(
        [str(RELORCH), *args],
        cwd=cwd,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_pyproject_declares_the_console_script() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["project"]["scripts"] == {"relorch": "orchestrator.cli.program:main"}


def test_the_version_is_the_installed_distributions(tmp_path: Path) -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert orchestrator.__version__ == importlib.metadata.version("release-orchestrator")
    assert orchestrator.__version__ == declared
    shown = relorch("--version", cwd=tmp_path)
    assert (shown.returncode, shown.stdout, shown.stderr) == (0, f"relorch {declared}\n", "")


def test_list_shows_the_same_tasks_as_invoke_from_anywhere(tmp_path: Path) -> None:
    listed = relorch("--list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    names = {line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()}
    assert {"release", "plan", "teardown", "inventory.check", "cloud.check"} <= names


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "error: No idea what '--bogus' is!"),
        (["release", "--bogus"], "error: No idea what '--bogus' is!"),
        (["no-such-task"], "error: No idea what 'no-such-task' is!"),
        (["release", "--tag"], "error: --tag needs a value"),
    ],
)
def test_bad_flags_and_unknown_tasks_exit_2_on_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    refused = relorch(*args, cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.startswith(message)
    assert refused.stderr.endswith("(relorch --help TASK lists its flags)\n")
    assert refused.stderr.count("\n") == 1
    assert refused.stdout == ""


def test_invoke_yaml_in_the_current_directory_names_the_inventory(tmp_path: Path) -> None:
    (tmp_path / "invoke.yaml").write_text("orchestrator:\n  inventory: from-invoke-yaml.yaml\n")
    checked = relorch("inventory.check", cwd=tmp_path)
    assert checked.returncode == 2
    assert checked.stderr.startswith("error: from-invoke-yaml.yaml: inventory file not found")


def test_the_invoke_environment_variable_names_the_inventory(tmp_path: Path) -> None:
    (tmp_path / "invoke.yaml").write_text("orchestrator:\n  inventory: from-invoke-yaml.yaml\n")
    checked = relorch(
        "inventory.check",
        cwd=tmp_path,
        env={"INVOKE_ORCHESTRATOR_INVENTORY": "from-environment.yaml"},
    )
    assert checked.returncode == 2
    assert checked.stderr.startswith("error: from-environment.yaml: inventory file not found")
