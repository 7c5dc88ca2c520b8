"""What names an image: repository names and tags (as the Distribution spec allows), labels; pure."""

from __future__ import annotations

import re

from orchestrator.config.schema import REPOSITORY_PATTERN

REPOSITORY = re.compile(REPOSITORY_PATTERN)
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# The labels a release sets on its image (the OCI image spec's annotation keys).
VERSION_LABEL = "org.opencontainers.image.version"
REVISION_LABEL = "org.opencontainers.image.revision"
TITLE_LABEL = "org.opencontainers.image.title"
# The run that built it: a later run may push over an image only its own dead run pushed.
RUN_LABEL = "dev.relorch.run-id"


def checked_repository(name: str) -> str:
    """``name`` if it is a valid repository name; ValueError otherwise."""
    if len(name) > 255 or not REPOSITORY.fullmatch(name):
        raise ValueError(f"not a repository name: {name[:80]!r}")
    return name


def checked_tag(tag: str) -> str:
    """``tag`` if it is a valid tag; ValueError otherwise."""
    if not TAG.fullmatch(tag):
        raise ValueError(f"not an image tag: {tag[:80]!r}")
    return tag
