"""``relorch init``: a starting inventory (and CI pipeline) in the user's own repository."""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

import orchestrator
from orchestrator.cli.common import reports_errors
from orchestrator.starter.names import bucket_name
from orchestrator.starter.render import REGION
from orchestrator.starter.scaffold import set_up_repository


@task(
    help={
        "directory": "a directory of the git repository to set up (default: the current "
        "one); the files go to the repository's top level",
        "ci": "also write a release pipeline: gitlab (.gitlab-ci.yml) or github "
        "(.github/workflows/release.yml)",
        "name": "the project's package name (default: the origin remote's repository "
        "name, else the repository's folder name)",
    }
)
@reports_errors
def init(c: Context, directory: str = ".", ci: str | None = None, name: str | None = None) -> None:
    """Write relorch.yaml for a real DigitalOcean account into a git repository; never over a file."""
    written = set_up_repository(Path(directory), ci, name, orchestrator.__version__)
    print(f"wrote {', '.join(written.paths)} in {written.top} (project {written.project})")
    print("next:")
    if written.top != Path.cwd().resolve():
        print(f"  cd {written.top}")
    print(
        "  edit relorch.yaml: each target's build command, the maintainer; create the "
        f"Spaces bucket {bucket_name(written.project)} in {REGION}"
    )
    print(
        "  export DIGITALOCEAN_ACCESS_TOKEN, ORCHESTRATOR_SIGNING_KEY, "
        "ORCHESTRATOR_SIGNING_PASSPHRASE, SPACES_KEY and SPACES_SECRET "
        "(relorch.yaml's header says what each is)"
    )
    print("  relorch inventory.check && relorch cloud.check")
    if len(written.paths) > 1:
        print(
            f"  set the same variables as the CI's secrets, commit {', '.join(written.paths)}, "
            "then push a tag: git tag v0.1.0 && git push origin v0.1.0"
        )
    else:
        print("  git tag v0.1.0 && relorch release --tag v0.1.0")
