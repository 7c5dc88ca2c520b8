"""The contract of a publish target (:class:`orchestrator.publish.target.PublishTarget`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.errors import PublishError
from orchestrator.publish.info import PublishInfo
from orchestrator.publish.ledger import FILE as LEDGER
from orchestrator.publish.ledger import MAX_BYTES, DeployFailure, render_ledger
from orchestrator.publish.local import scan_tree
from orchestrator.publish.target import PublishTarget
from orchestrator.repo.build import add_packages
from orchestrator.repo.options import RepoOptions
from orchestrator.testing.packages import minimal_deb
from orchestrator.testing.signing import FakeSigner

OPTIONS = RepoOptions(project="demo", origin="Demo", label="Demo", base_url="http://127.0.0.1:9")
RELEASE = PublishInfo(run_id="20261122t103005-a1b2c3", tag="v1.0.0", version="1.0.0")


def trees(directory: Path) -> tuple[Path, Path]:
    """Two trees: 1.0.0, and a tree of 2.0.0 alone (it lacks 1.0.0's packages)."""
    made = []
    for version in ("1.0.0", "2.0.0"):
        incoming = directory / f"incoming-{version}"
        incoming.mkdir(parents=True)
        package = incoming / f"demo_{version}-1_amd64.deb"
        package.write_bytes(minimal_deb("demo", version, "amd64"))
        root = directory / f"tree-{version}"
        add_packages([package], root, "stable", OPTIONS, FakeSigner())
        made.append(root)
    return made[0], made[1]


PAGE = "status/environments.html"


def check_publish_target(
    target: PublishTarget, directory: Path, read: Callable[[str], bytes | None]
) -> None:
    """What every publish target does, whatever it is; ``read`` GETs a URL (None if absent).

    The target must serve the environments page at :data:`PAGE`.
    """
    first, lacking = trees(directory)
    assert target.served().files == {}
    assert not target.unlock(force=False)
    with pytest.raises(PublishError, match="publishes nothing yet"):
        target.publish_page(b"early", run_id=RELEASE.run_id, lock_wait=5, say=print)

    published = target.publish(scan_tree(first), RELEASE, lock_wait=5, say=print)
    page_url = target.publish_page(b"<p>one</p>", run_id=RELEASE.run_id, lock_wait=5, say=print)
    assert page_url == f"{target.url}/{PAGE}" and read(page_url) == b"<p>one</p>"
    assert (published.name, published.url, published.unchanged) == (target.name, target.url, False)
    assert published.key_url == f"{target.url}/keys/demo.asc"
    assert dict(target.served().files) == scan_tree(first).files
    again = target.publish(scan_tree(first), RELEASE, lock_wait=5, say=print)
    assert again.unchanged and again.uploaded == 0

    fetched = directory / "fetched"
    manifest = target.fetch(fetched)
    assert dict(manifest.files) == scan_tree(first).files
    assert not (fetched / PAGE).exists(), "the page sits beside the tree, not in it"
    for path in scan_tree(first).files:
        assert (fetched / path).read_bytes() == (first / path).read_bytes()

    # A tree that lost published packages is refused; what is served stays.
    with pytest.raises(PublishError, match="lacks 1 package"):
        target.publish(scan_tree(lacking), RELEASE, lock_wait=5, say=print)
    assert dict(target.served().files) == scan_tree(first).files
    target.publish(scan_tree(lacking), RELEASE, lock_wait=5, say=print, allow_removals=True)
    assert dict(target.served().files) == scan_tree(lacking).files
    # Publishing trees kept the page; publishing the page again replaces it whole.
    assert read(page_url) == b"<p>one</p>"
    target.publish_page(b"<p>two</p>", run_id=RELEASE.run_id, lock_wait=5, say=print)
    assert read(page_url) == b"<p>two</p>"
    assert dict(target.served().files) == scan_tree(lacking).files
    # Withdrawn, the page is gone, and a tree published afterwards does not bring it back.
    assert target.unpublish_page(run_id=RELEASE.run_id, lock_wait=5, say=print) == page_url
    assert read(page_url) is None
    target.publish(scan_tree(first), RELEASE, lock_wait=5, say=print, allow_removals=True)
    assert read(page_url) is None
    assert not target.unlock(force=False)


FAILED = DeployFailure("1.2.7", "2026-12-07T03:05:00Z", RELEASE.run_id, "dev-1", "health check")


def check_deploy_ledger(
    target: PublishTarget,
    directory: Path,
    read: Callable[[str], bytes | None],
    store: Callable[[bytes], None],
) -> None:
    """The deploy ledger of every publish target; ``store`` writes raw bytes where the target
    keeps its ledger (as someone with access to the target, not the tool, would)."""
    assert target.deploy_failures() == {}
    first, _ = trees(directory)
    target.publish(scan_tree(first), RELEASE, lock_wait=5, say=print)
    written = target.record_deploy_failure("dev", FAILED, lock_wait=5, say=print)
    assert written == {"dev": (FAILED,)} == target.deploy_failures()
    # A version is listed once per environment; another environment has its own list.
    again = DeployFailure("1.2.7", "2026-12-07T04:00:00Z", "20261207t040000-ffffff", "dev-2")
    target.record_deploy_failure("dev", again, lock_wait=5, say=print)
    staging = DeployFailure("1.2.8", "2026-12-07T05:00:00Z", RELEASE.run_id, "staging-2", "x" * 900)
    ledger = target.record_deploy_failure("staging", staging, lock_wait=5, say=print)
    assert [f.version for f in ledger["dev"]] == ["1.2.7"]
    assert ledger["staging"][0].detail == "x" * 500, "fields are clipped, not refused"
    assert target.deploy_failures() == ledger

    # Beside the tree: never served, never pulled, kept by every publish.
    assert read(f"{target.url}/{LEDGER}") is None
    target.fetch(directory / "fetched-ledger")
    assert not (directory / "fetched-ledger" / LEDGER).exists()
    target.publish(scan_tree(first), RELEASE, lock_wait=5, say=print)
    assert target.deploy_failures() == ledger
    assert not target.unlock(force=False)

    # What the target holds is checked: one error naming the target, never read as empty.
    for data, problem in [
        (b"{not json", "not JSON"),
        (b'{"format": 1, "environments": {"dev": [{"version": 7}]}}', "exactly the fields"),
        (render_ledger(ledger) + b" " * MAX_BYTES, "larger than"),
    ]:
        store(data)
        with pytest.raises(PublishError, match=problem) as refused:
            target.deploy_failures()
        assert target.where in str(refused.value)
        with pytest.raises(PublishError, match=problem):
            target.record_deploy_failure("dev", FAILED, lock_wait=5, say=print)
    store(render_ledger(ledger))
    assert target.deploy_failures() == ledger
