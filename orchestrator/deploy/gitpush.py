"""An inventory change as a pushed git branch, for ``--push`` (GitOps): names and addresses.

The branch a change is pushed on (:func:`branch_name`), the forge page that opens a pull or
merge request from it (:func:`review_url`), and :func:`scrub`, which keeps the user
information of a remote URL (``user:token@``) out of anything shown.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

BRANCH_PREFIX = "relorch/"
# Far below any file system's limit for a ref's path, and still readable in a forge's list.
MAX_BRANCH_LENGTH = 100

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]*@")
_UNSAFE_IN_BRANCH = re.compile(r"[^A-Za-z0-9._+-]+")


def scrub(text: str) -> str:
    """``text`` without the user information (``user:token@``) of any URL in it."""
    return _USERINFO.sub(r"\1", text)


def branch_name(environment: str, what: str) -> str:
    """``relorch/<environment>-<what>`` made a valid branch name (``git check-ref-format``).

    Anything but letters, digits and ``. _ + -`` becomes ``-``; runs of dashes and dots
    collapse, the parts lose leading and trailing ones, and the name is at most
    :data:`MAX_BRANCH_LENGTH` characters.
    """
    env = _safe(environment)[:40].strip(".-") or "env"
    room = MAX_BRANCH_LENGTH - len(BRANCH_PREFIX) - len(env) - 1
    change = _safe(what)[:room].strip(".-")
    name = f"{BRANCH_PREFIX}{env}-{change}" if change else f"{BRANCH_PREFIX}{env}"
    # No component may end in .lock (git's lock files), nor the name in a dot.
    while name.endswith(".lock"):
        name = name.removesuffix(".lock").rstrip(".-")
    return name


def _safe(text: str) -> str:
    text = _UNSAFE_IN_BRANCH.sub("-", text)
    text = re.sub(r"\.{2,}", ".", text)
    text = re.sub(r"-{2,}", "-", text)
    return text.strip(".-")


def review_url(remote_url: str, branch: str) -> str | None:
    """The page that opens a pull request (GitHub) or merge request (GitLab) from ``branch``.

    None for a remote that is neither github.com nor gitlab.com or a ``gitlab.*`` host (a
    path on disk, another forge). User information in ``remote_url`` never appears in it.
    """
    location = _forge_location(remote_url)
    if location is None:
        return None
    base, host, path = location
    segments = path.split("/")
    if host in ("github.com", "www.github.com", "ssh.github.com"):
        if len(segments) != 2:
            return None
        return f"https://github.com/{path}/compare/{quote(branch, safe='/')}?expand=1"
    if host == "gitlab.com" or host.startswith("gitlab."):
        if len(segments) < 2:
            return None
        return (
            f"{base}/{path}/-/merge_requests/new"
            f"?merge_request%5Bsource_branch%5D={quote(branch, safe='')}"
        )
    return None


def _forge_location(url: str) -> tuple[str, str, str] | None:
    """The web base (scheme and host), the lowercase host and the repository's path of ``url``."""
    scp = re.fullmatch(r"(?:[^@/:]+@)?([^@/:]+):(?!/)(.+)", url)
    if "://" not in url and scp:
        host, path, base = scp[1].lower(), scp[2], f"https://{scp[1].lower()}"
    else:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        if parts.scheme not in ("https", "http", "ssh", "git", "git+ssh", "ssh+git"):
            return None
        host, path = (parts.hostname or ""), parts.path
        # The web answers where HTTP did; an ssh port says nothing about the web's.
        web = "http" if parts.scheme == "http" else "https"
        keep_port = port is not None and parts.scheme in ("https", "http")
        base = f"{web}://{host}:{port}" if keep_port else f"{web}://{host}"
    path = path.strip("/").removesuffix(".git").strip("/")
    if not host or not path or any(part in ("", ".", "..") for part in path.split("/")):
        return None
    return base, host, path
