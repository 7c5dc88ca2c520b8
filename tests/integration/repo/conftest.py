"""Fixtures for repository tests: the shared repository built by this tool, served.

The tools (gpg keyrings, nfpm, HTTP servers, apt-get, dnf, zypper) come from
``tests/integration/conftest.py``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.repo.build import RepoChange, add_packages
from orchestrator.repo.options import RepoOptions
from orchestrator.repo.signing import Signer
from tests.integration.conftest import PROJECT, build_set


@dataclass
class Published:
    """The shared repository: 1.0.0 and then 1.1.0 in stable, 1.2.0~rc.1 in testing."""

    root: Path
    url: str
    options: RepoOptions
    first: RepoChange
    second: RepoChange
    prerelease: RepoChange
    v1_packages_index: bytes


@pytest.fixture(scope="session")
def published(
    tmp_path_factory: pytest.TempPathFactory,
    serve: Callable[[Path], str],
    nfpm: Callable[[str, str, str, str], Path],
    signer: Signer,
) -> Published:
    """Build the shared repository with this tool and serve it."""
    root = tmp_path_factory.mktemp("published") / "repo"
    url = serve(root)
    options = RepoOptions(
        project=PROJECT, origin="Example", label="Demo Tools", base_url=url,
        maintainer="Example Ops", homepage="https://example.org/demo",
    )  # fmt: skip
    first = add_packages(build_set(nfpm, "1.0.0"), root, "stable", options, signer)
    v1_index = (root / "deb/dists/stable/main/binary-amd64/Packages").read_bytes()
    second = add_packages(build_set(nfpm, "1.1.0"), root, "stable", options, signer)
    prerelease = add_packages(build_set(nfpm, "1.2.0~rc.1"), root, "testing", options, signer)
    return Published(root, url, options, first, second, prerelease, v1_index)


@pytest.fixture(scope="session")
def output_dir(request: pytest.FixtureRequest) -> Path:
    """Where tests leave artifacts for people (screenshots): $TEST_OUTPUT_DIR or test-output/."""
    base = Path(os.environ.get("TEST_OUTPUT_DIR") or request.config.rootpath / "test-output")
    directory = base / "repo"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def copy_tree(source: Path, destination: Path) -> Path:
    """A private copy of a repository tree, for tests that tamper with it."""
    shutil.copytree(source, destination)
    return destination
