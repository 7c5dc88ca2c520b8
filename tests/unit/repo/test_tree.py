from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.engine.liveness import this_process
from orchestrator.engine.locks import LockDetails
from orchestrator.errors import RepositoryError
from orchestrator.repo.tree import Staging, exchange, holding_tree_lock


def test_exchange_swaps_two_directories(tmp_path: Path) -> None:
    old, new = tmp_path / "live", tmp_path / ".live.new"
    old.mkdir()
    new.mkdir()
    (old / "f").write_text("old")
    (new / "f").write_text("new")
    exchange(new, old)
    assert (old / "f").read_text() == "new" and (new / "f").read_text() == "old"


def test_staging_commit_swaps_in_and_removes_obsolete(tmp_path: Path) -> None:
    live = tmp_path / "suite"
    live.mkdir()
    (live / "Release").write_text("old")
    gone = tmp_path / "old.deb"
    gone.write_text("x")
    with Staging() as staging:
        staged = staging.directory(live)
        (staged / "Release").write_text("new")
        assert staging.file(tmp_path / "index.html", b"page")
        staging.obsolete(gone)
        assert (live / "Release").read_text() == "old"
        staging.commit()
    assert (live / "Release").read_text() == "new"
    assert (tmp_path / "index.html").read_bytes() == b"page"
    assert not gone.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html", "suite"]


def test_staging_without_commit_leaves_everything_as_it_was(tmp_path: Path) -> None:
    live = tmp_path / "suite"
    live.mkdir()
    (live / "Release").write_text("old")
    added = tmp_path / "pool.deb"
    with pytest.raises(RuntimeError), Staging() as staging:
        (staging.directory(live) / "Release").write_text("new")
        staging.file(tmp_path / "index.html", b"page")
        added.write_text("new package")
        staging.added(added)
        raise RuntimeError("signing failed")
    assert (live / "Release").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["suite"]


def test_staging_file_skips_identical_content(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"same")
    with Staging() as staging:
        assert not staging.file(tmp_path / "a", b"same")


def test_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    with (
        holding_tree_lock(tmp_path, run_id="20261122t103005-a1b2c3", tag="v1.2.3"),
        pytest.raises(RepositoryError, match=r"locked by run 20261122t103005-a1b2c3 \(v1\.2\.3\)"),
        holding_tree_lock(tmp_path),
    ):
        pass
    with holding_tree_lock(tmp_path):
        pass
    assert not (tmp_path / ".state" / "lock").exists()


def test_a_lock_whose_holder_is_gone_is_broken(tmp_path: Path) -> None:
    me = this_process()
    dead = LockDetails("20261122t103005-a1b2c3", "", me.host, 2**22 + 7, "1", me.boot, "-", "t")
    (tmp_path / ".state" / "lock").mkdir(parents=True)
    (tmp_path / ".state" / "lock" / "details").write_text(dead.render())
    with holding_tree_lock(tmp_path):  # a kill -9 during indexing left it
        assert "token=t\n" not in (tmp_path / ".state" / "lock" / "details").read_text()
