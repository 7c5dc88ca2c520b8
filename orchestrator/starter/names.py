"""The names a starting inventory is made of, derived from the repository's name.

The repository's name comes from a git remote URL or a folder name: untrusted text that is
normalised here into a package name, or refused, before anything else sees it.
"""

from __future__ import annotations

import re
import unicodedata

from orchestrator.config.schema import PACKAGE_NAME_PATTERN
from orchestrator.errors import UsageError

# As the inventory's package lists (schema.PackageName) allow.
MAX_NAME_LENGTH = 100
# DigitalOcean Spaces (and S3) bucket names: 3 to 63 lowercase letters, digits and hyphens.
MAX_BUCKET_LENGTH = 63
BUCKET_SUFFIX = "-packages"
# inventory.TAG_PREFIX_PATTERN: a letter, then at most 30 letters, digits and hyphens.
MAX_TAG_PREFIX_LENGTH = 31
NAME_RULE = "lowercase letters, digits and . + -, starting with a letter or digit"


def repository_name(remote_url: str) -> str:
    """The repository's name in a git remote URL: its last path segment, without ``.git``.

    ``https://host/owner/name.git``, ``git@host:owner/name``, ``ssh://host/name/`` and
    ``/srv/git/name.git`` all give ``name``.
    """
    last = re.split(r"[/:\\]", remote_url.strip().rstrip("/"))[-1]
    return last.removesuffix(".git")


def package_name(raw: str, origin: str) -> str:
    """``raw`` made a Debian package name; UsageError saying where ``raw`` came from if not.

    Accents are dropped, letters lowercased, and every run of other characters becomes
    one ``-``: ``My_Tool`` gives ``my-tool``, ``évier`` gives ``evier``.
    """
    ascii_text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^a-z0-9.+]+", "-", ascii_text.lower()).strip(".+-")
    if not _is_package_name(name):
        raise UsageError(
            f"cannot make a package name ({NAME_RULE}, 2 to {MAX_NAME_LENGTH} characters) "
            f"of {raw[:60]!r} ({origin}): pass --name NAME"
        )
    return name


def checked_name(name: str) -> str:
    """A project name given with ``--name``, if it is a package name; UsageError otherwise."""
    if not _is_package_name(name):
        raise UsageError(
            f"--name {name[:60]!r} is not a package name "
            f"({NAME_RULE}, 2 to {MAX_NAME_LENGTH} characters)"
        )
    return name


def _is_package_name(name: str) -> bool:
    return re.fullmatch(PACKAGE_NAME_PATTERN, name) is not None and len(name) <= MAX_NAME_LENGTH


def _hyphenated(project: str) -> str:
    # Package names may hold . and +; bucket names and droplet tags may not.
    return re.sub(r"[^a-z0-9]+", "-", project).strip("-")


def bucket_name(project: str) -> str:
    """The Spaces bucket a project publishes to: ``<project>-packages``, within 63 characters."""
    stem = _hyphenated(project)[: MAX_BUCKET_LENGTH - len(BUCKET_SUFFIX)].rstrip("-")
    return f"{stem}{BUCKET_SUFFIX}"


def tag_prefix(project: str) -> str:
    """The project's own droplet tag, ``relorch-<project>``, within the inventory's 31 characters.

    A teardown without a run id destroys every droplet under the tag prefix, so projects
    sharing an account must not share one.
    """
    return f"relorch-{_hyphenated(project)}"[:MAX_TAG_PREFIX_LENGTH].rstrip("-")
