from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.errors import PublishError
from orchestrator.publish.manifest import (
    FileInfo,
    Manifest,
    Retired,
    changes,
    dropped_packages,
    expired,
    next_manifest,
)

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
A, B, C = FileInfo(1, "a" * 64), FileInfo(2, "b" * 64), FileInfo(3, "c" * 64)


def test_a_first_publish_uploads_everything() -> None:
    following = next_manifest(Manifest(), {"x": A, "y": B}, T0, None)

    assert following == Manifest({"x": A, "y": B}, {})
    assert changes(Manifest(), following).upload == ["x", "y"]
    assert changes(Manifest(), following).remove == []


def test_files_that_leave_the_tree_are_retired_not_removed() -> None:
    previous = Manifest({"pool/old": A, "Release": B}, {})
    following = next_manifest(previous, {"Release": C, "pool/new": A}, T0, None)

    assert following.files == {"Release": C, "pool/new": A}
    assert following.retired == {"pool/old": Retired(A, T0)}
    todo = changes(previous, following)
    assert (todo.upload, todo.remove) == (["Release", "pool/new"], [])


def test_retired_files_expire_and_are_removed() -> None:
    previous = Manifest(
        {"Release": B}, {"old": Retired(A, T0), "fresh": Retired(C, T0 + timedelta(hours=2))}
    )
    later = T0 + timedelta(hours=3)
    following = next_manifest(previous, {"Release": B}, later, later - timedelta(hours=1.5))

    assert following.retired == {"fresh": Retired(C, T0 + timedelta(hours=2))}
    assert changes(previous, following).remove == ["old"]


def test_a_retired_file_that_comes_back_is_not_uploaded_again() -> None:
    previous = Manifest({}, {"pool/p": Retired(A, T0)})
    following = next_manifest(previous, {"pool/p": A}, T0, None)

    assert following.retired == {}
    assert changes(previous, following).empty


def test_a_changed_file_is_uploaded() -> None:
    previous = Manifest({"Release": A}, {})
    assert changes(previous, next_manifest(previous, {"Release": B}, T0, None)).upload == [
        "Release"
    ]


def test_json_round_trip_and_garbage() -> None:
    manifest = Manifest({"deb/x": A}, {"deb/y": Retired(B, T0)})

    assert Manifest.from_json(manifest.to_json(), "m") == manifest
    with pytest.raises(PublishError, match="not a manifest this tool wrote"):
        Manifest.from_json(b'{"format": 9}', "s3://b/m")
    with pytest.raises(PublishError, match="move it away"):
        Manifest.from_json(b"<html>", "m")


def test_expired_lists_only_old_retired_files() -> None:
    manifest = Manifest(
        {"a": A}, {"old": Retired(B, T0), "new": Retired(C, T0 + timedelta(days=2))}
    )

    gone, kept = expired(manifest, T0 + timedelta(days=1))

    assert gone == ["old"]
    assert kept == Manifest({"a": A}, {"new": Retired(C, T0 + timedelta(days=2))})


def test_packages_the_tree_lost_are_dropped_unless_pruned() -> None:
    previous = Manifest(
        {
            "deb/pool/main/d/demo/demo_1.0_amd64.deb": A,
            "deb/pool/main/d/demo/demo_1.1_amd64.deb": A,
            "rpm/stable/x86_64/packages/demo-1.0-1.x86_64.rpm": B,
            "deb/dists/stable/main/binary-amd64/Packages": C,
        },
        {"deb/pool/main/d/demo/demo_0.9_amd64.deb": Retired(A, T0)},
    )
    tree = {"deb/pool/main/d/demo/demo_1.1_amd64.deb": A}

    assert dropped_packages(previous, tree, pruned=()) == [
        "deb/pool/main/d/demo/demo_1.0_amd64.deb",
        "rpm/stable/x86_64/packages/demo-1.0-1.x86_64.rpm",
    ]
    pruned = {"rpm/stable/x86_64/packages/demo-1.0-1.x86_64.rpm"}
    assert dropped_packages(previous, tree, pruned) == ["deb/pool/main/d/demo/demo_1.0_amd64.deb"]
    assert dropped_packages(Manifest(), tree, pruned=()) == []
