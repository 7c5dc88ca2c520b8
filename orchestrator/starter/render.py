"""The files ``relorch init`` writes, rendered from ``templates/init/``.

Every value a template prints is a YAML double-quoted string (the environment's
``finalize``): the project's name comes from a git remote, and no text of it can end a
scalar, start a key or leave a comment, whatever the template around it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.errors import UsageError
from orchestrator.starter.names import bucket_name, tag_prefix
from orchestrator.templatefiles import templates_environment

if TYPE_CHECKING:
    import jinja2

INVENTORY_FILE = "relorch.yaml"
# The region of the droplets and of the bucket: the example inventory's.
REGION = "ams3"
# What each --ci choice adds: (path in the repository, template).
CI_FILES = {
    "gitlab": ((".gitlab-ci.yml", "init/gitlab-ci.yml.j2"),),
    "github": ((".github/workflows/release.yml", "init/github-release.yml.j2"),),
}


@dataclass(frozen=True)
class Starter:
    """What the starting files are made for: a project, released by a pinned orchestrator."""

    project: str
    version: str
    ci: str | None = None


def ci_choice(value: str | None) -> str | None:
    """The ``--ci`` value if it names a CI system init writes for; UsageError otherwise."""
    if value is None or value in CI_FILES:
        return value
    raise UsageError(f"--ci takes {' or '.join(CI_FILES)}, got {value[:40]!r}")


def starter_files(starter: Starter) -> dict[str, str]:
    """Each file to write, by its path relative to the repository's top level."""
    context = {
        "project": starter.project,
        "package_pin": f"release-orchestrator=={starter.version}",
        "tag_prefix": tag_prefix(starter.project),
        "region": REGION,
        "bucket": bucket_name(starter.project),
        "bucket_endpoint": f"https://{REGION}.digitaloceanspaces.com",
        "bucket_url": f"https://{bucket_name(starter.project)}.{REGION}.digitaloceanspaces.com",
        "public_key_file": f"{starter.project}-signing-key.asc",
    }
    chosen = (INVENTORY_FILE, "init/relorch.yaml.j2"), *CI_FILES.get(starter.ci or "", ())
    return {path: _environment().get_template(name).render(context) for path, name in chosen}


def yaml_string(value: object) -> str:
    """``value`` as a YAML double-quoted scalar.

    JSON's string syntax is YAML's, escapes included; JSON leaves DEL as it is, which YAML
    does not accept unescaped.
    """
    if not isinstance(value, str):
        raise TypeError(f"the init templates print strings only, got {type(value).__name__}")
    return json.dumps(value).replace("\x7f", "\\u007f")


@functools.cache
def _environment() -> jinja2.Environment:
    return templates_environment(finalize=yaml_string)
