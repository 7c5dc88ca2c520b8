"""The default inventory: flag, Invoke config, relorch.yaml here, this checkout's sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from invoke.config import Config
from invoke.context import Context

from orchestrator.cli import common
from orchestrator.cli.deploy_tasks import _say
from orchestrator.deploy.records import Audit
from orchestrator.deploy.request import DeployRequest
from orchestrator.deploy.run import run_deploy
from orchestrator.errors import UsageError
from orchestrator.testing.deploy import fake_deploy_seams
from tests.unit.deploy.test_rollout import OFFERED, inventory, records, servers

ROOT = Path(__file__).resolve().parents[3]


def context(inventory: str | None = None) -> Context:
    return Context(Config(overrides={"orchestrator": {"inventory": inventory}}))


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory outside the checkout, and a checkout with a sandbox inventory."""
    checkout = tmp_path / "checkout" / "inventory"
    checkout.mkdir(parents=True)
    (checkout / "sandbox.yaml").write_text("project: {}\n")
    monkeypatch.setattr(common, "DEFAULT_INVENTORY", checkout / "sandbox.yaml")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_the_flag_comes_first(elsewhere: Path) -> None:
    (elsewhere / "relorch.yaml").write_text("")
    assert common.inventory_path(context("configured.yaml"), "flag.yaml") == Path("flag.yaml")


def test_then_the_invoke_config(elsewhere: Path) -> None:
    (elsewhere / "relorch.yaml").write_text("")
    assert common.inventory_path(context("configured.yaml"), None) == Path("configured.yaml")


def test_then_relorch_yaml_in_the_current_directory(elsewhere: Path) -> None:
    (elsewhere / "relorch.yaml").write_text("")
    assert common.inventory_path(context(), None) == Path("relorch.yaml")


def test_a_dangling_relorch_yaml_is_chosen_and_reported_not_passed_over(elsewhere: Path) -> None:
    (elsewhere / "relorch.yaml").symlink_to(elsewhere / "gone.yaml")
    assert common.inventory_path(context(), None) == Path("relorch.yaml")


def test_then_the_checkouts_sandbox_inventory(elsewhere: Path) -> None:
    assert common.inventory_path(context(), None) == common.DEFAULT_INVENTORY


def test_no_inventory_at_all_is_a_usage_error_naming_the_ways_out(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "DEFAULT_INVENTORY", elsewhere / "no-checkout" / "sandbox.yaml")
    with pytest.raises(UsageError) as raised:
        common.inventory_path(context(), None)
    assert str(raised.value) == (
        "no inventory: pass --inventory FILE, set orchestrator.inventory, "
        "or write relorch.yaml with `relorch init`"
    )
    assert raised.value.exit_code == 2


def closed_pipe() -> int:
    """The write end of a pipe whose reader is gone (``| head`` that read enough)."""
    read, write = os.pipe()
    os.close(read)
    return write


@pytest.mark.parametrize("args", [("inventory.schema",), ("env.sudoers", "--env", "prod")])
def test_a_reader_that_went_away_ends_the_output_quietly(args: tuple[str, ...]) -> None:
    write = closed_pipe()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "invoke", *args], cwd=ROOT, stdout=write,
            stderr=subprocess.PIPE, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (common.READER_GONE, "")


def test_a_deploy_goes_on_when_no_one_reads_its_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    with os.fdopen(closed_pipe(), "w") as gone:
        monkeypatch.setattr(sys, "stdout", gone)
        fleet = servers()
        request = DeployRequest("prod", "1.2.4", "deploy", Audit("tester"), lock_wait=0.0)
        outcome = run_deploy(
            inventory(), request, fake_deploy_seams(fleet, OFFERED), say=_say(False)
        )
        monkeypatch.undo()
    assert outcome.status == "deployed", outcome.message
    assert [records(s)[-1]["result"] for s in fleet.values()] == ["deployed"] * 3
