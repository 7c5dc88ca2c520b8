from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.errors import UsageError
from orchestrator.publish.ssh.snapshots import (
    by_age,
    check_version,
    rollback_target,
    snapshot_name,
    to_prune,
)

NOW = datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC)
S1, S2, S3, S4 = (f"2026112{i}T000000Z-1.{i}.0" for i in range(1, 5))


def test_names_sort_by_age_and_never_collide() -> None:
    first = snapshot_name(NOW, "1.3.0~rc.1", [])
    second = snapshot_name(NOW, "1.3.0~rc.1", [first])
    third = snapshot_name(NOW, "1.3.0~rc.1", [first, second])

    assert first == "20261122T103005Z-1.3.0~rc.1"
    assert (second, third) == ("20261122T103005Z.1-1.3.0~rc.1", "20261122T103005Z.2-1.3.0~rc.1")
    assert by_age([third, ".new-x", second, first, "junk"]) == [first, second, third]


@pytest.mark.parametrize("version", ["", "1.2 3", "../x", "-1", "a/b"])
def test_versions_that_cannot_name_a_snapshot(version: str) -> None:
    with pytest.raises(UsageError, match="cannot name a snapshot"):
        check_version(version)


def test_pruning_keeps_the_newest_and_the_current() -> None:
    assert to_prune([S4, S1, S3, S2, ".new-x"], S4, 2) == [S1, S2]
    # After a rollback the current snapshot may be old: it stays.
    assert to_prune([S1, S2, S3, S4], S1, 2) == [S2]
    assert to_prune([S1], S1, 5) == []


def test_rollback_targets() -> None:
    assert rollback_target([S1, S2, S3], S3, None) == S2
    assert rollback_target([S1, S2, S3], S2, None) == S1
    assert rollback_target([S1, S2, S3], S3, S1) == S1
    with pytest.raises(UsageError, match="nothing to roll back to"):
        rollback_target([S1, S2], S1, None)
    with pytest.raises(UsageError, match="already the current"):
        rollback_target([S1, S2], S2, S2)
    with pytest.raises(UsageError, match=r"no snapshot 'x'.*snapshots: 2026"):
        rollback_target([S1, S2], S2, "x")
    with pytest.raises(UsageError, match="no current snapshot"):
        rollback_target([], None, None)
