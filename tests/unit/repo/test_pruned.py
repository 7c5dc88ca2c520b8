from __future__ import annotations

from pathlib import Path

from orchestrator.repo.pruned import RECORD, pruned_files, update_pruned

OLD_DEB = "deb/pool/main/d/demo/demo_1.0_amd64.deb"
OLD_RPM = "rpm/stable/x86_64/packages/demo-1.0-1.x86_64.rpm"


def test_a_tree_never_pruned_has_an_empty_record(tmp_path: Path) -> None:
    assert pruned_files(tmp_path) == set()
    update_pruned(tmp_path, removed=(), added=[OLD_DEB])
    assert not (tmp_path / ".state" / RECORD).exists()


def test_pruned_files_are_recorded_until_added_again(tmp_path: Path) -> None:
    update_pruned(tmp_path, removed=[OLD_DEB, OLD_RPM], added=())
    assert pruned_files(tmp_path) == {OLD_DEB, OLD_RPM}
    update_pruned(tmp_path, removed=(), added=[OLD_RPM])
    assert pruned_files(tmp_path) == {OLD_DEB}


def test_an_unreadable_record_allows_nothing(tmp_path: Path) -> None:
    (tmp_path / ".state").mkdir()
    (tmp_path / ".state" / RECORD).write_text("{not json")
    assert pruned_files(tmp_path) == set()
    (tmp_path / ".state" / RECORD).write_text('{"a": 1}')
    assert pruned_files(tmp_path) == set()
