"""The contract of a publish target (:class:`orchestrator.publish.target.PublishTarget`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.errors import PublishError
from orchestrator.publish.info import PublishInfo
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
