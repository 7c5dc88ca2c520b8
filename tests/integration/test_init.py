"""``relorch init`` end to end: the installed console script writes files that the real
loader, ``relorch inventory.check`` and GitLab's and GitHub's own schemas accept.

No sandbox, no root: it is here because check-jsonschema takes about half a second.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.config.inventory import load_inventory
from tests.unit.cli.test_init import git_repository
from tests.unit.cli.test_program import relorch

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


@pytest.mark.parametrize(
    ("ci", "path", "schema"),
    [
        ("gitlab", ".gitlab-ci.yml", "vendor.gitlab-ci"),
        ("github", ".github/workflows/release.yml", "vendor.github-workflows"),
    ],
)
def test_init_writes_an_inventory_and_a_pipeline_that_check_out(
    tmp_path: Path, ci: str, path: str, schema: str
) -> None:
    repo = git_repository(tmp_path / "checkout", "https://github.com/acme/hello.git")
    done = relorch("init", "--ci", ci, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote relorch.yaml, {path} in {repo} (project hello)\n")

    inventory = load_inventory(repo / "relorch.yaml")
    assert (inventory.project.name, inventory.project.source) == ("hello", repo)
    assert inventory.cloud.provider == "digitalocean" and not inventory.uses_sandbox

    checked = relorch("inventory.check", "--inventory", "relorch.yaml", cwd=repo)
    assert checked.returncode == 0, checked.stderr
    assert (
        checked.stdout == "relorch.yaml: ok (hello; digitalocean; targets: amd64-deb, amd64-rpm)\n"
    )
    # relorch.yaml here is the default inventory: the CI files pass no --inventory.
    assert relorch("inventory.check", cwd=repo).stdout == checked.stdout

    validated = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", schema, str(repo / path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
