"""Names DigitalOcean accepts for droplets and tags."""

from __future__ import annotations

import re

DROPLET_NAME = re.compile(r"^[a-zA-Z0-9]?[a-z0-9A-Z.\-]*[a-z0-9A-Z]$")
TAG_NAME = re.compile(r"^[a-zA-Z0-9_\-:]+$")
MAX_NAME = 255


def droplet_name_problem(name: object) -> str | None:
    """Why this is not a valid droplet name, or None when it is one."""
    if not isinstance(name, str) or not name:
        return "Droplet names must be non-empty strings."
    if len(name) > MAX_NAME or not DROPLET_NAME.fullmatch(name):
        return "Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)"
    return None


def tag_name_problem(name: object) -> str | None:
    """Why this is not a valid tag name, or None when it is one."""
    if not isinstance(name, str) or not name:
        return "Tag names must be non-empty strings."
    if len(name) > MAX_NAME or not TAG_NAME.fullmatch(name):
        return (
            f"Tag name {name!r} is invalid: use at most {MAX_NAME} letters, digits, "
            "'_', '-' and ':'."
        )
    return None
