"""The default inventory: flag, Invoke config, relorch.yaml here, this checkout's sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from invoke.config import Config
from invoke.context import Context

from orchestrator.errors import UsageError
from orchestrator.tasks import common


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
