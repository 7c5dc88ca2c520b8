"""The files users fetch to set up their clients, rendered from ``templates/repo``; pure."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from orchestrator import templatefiles
from orchestrator.repo.layout import (
    LANDING_PAGE,
    RPM,
    deb_client_files,
    public_key_paths,
    rpm_client_file,
)
from orchestrator.repo.options import RepoOptions

if TYPE_CHECKING:
    import jinja2

TEMPLATES = templatefiles.TEMPLATES / "repo"
PLACEHOLDER_URL = "https://REPOSITORY-URL"


@functools.cache
def _environment() -> jinja2.Environment:
    # Imported on first render: most re-indexes find the client files unchanged (see
    # inputs_digest) and skip jinja2's import and template compilation altogether.
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def apt_keyring(project: str) -> str:
    """Where the landing page tells users to put the binary key for ``signed-by``."""
    return f"/etc/apt/keyrings/{project}.gpg"


def fingerprint_groups(fingerprint: str) -> str:
    """A fingerprint in groups of four, as gpg prints it, for reading aloud."""
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))


def inputs_digest(
    options: RepoOptions,
    fingerprint: str,
    public_key: str,
    deb_channels: Sequence[str],
    rpm_channels: Sequence[str],
) -> str:
    """A digest of everything :func:`render_client_files` reads, templates included.

    Equal digests mean equal files, so a caller that remembers the digest of what it wrote
    can skip rendering.
    """
    inputs = {
        "options": options.model_dump(mode="json"),
        "fingerprint": fingerprint,
        "public_key": public_key,
        "deb_channels": list(deb_channels),
        "rpm_channels": list(rpm_channels),
        "templates": {
            path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(TEMPLATES.iterdir())
        },
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode("utf-8")).hexdigest()


def render_client_files(
    options: RepoOptions,
    fingerprint: str,
    public_key: str,
    public_key_binary: bytes,
    deb_channels: Sequence[str],
    rpm_channels: Sequence[str],
) -> dict[str, bytes]:
    """Every client file keyed by its path in the tree.

    Without ``options.base_url`` there is no URL to put in ``.sources``, ``.list`` and
    ``.repo`` files, so only the keys and the landing page (with a placeholder) are made.
    """
    project = options.project
    base = (options.base_url or PLACEHOLDER_URL).rstrip("/")
    context = {
        "project": project,
        "label": options.label,
        "origin": options.origin,
        "maintainer": options.maintainer,
        "homepage": options.homepage,
        "base": base,
        "base_url": options.base_url,
        "environments_page_url": options.environments_page_url,
        "keyring": apt_keyring(project),
        "fingerprint_groups": fingerprint_groups(fingerprint),
        "deb_channels": list(deb_channels),
        "rpm_channels": list(rpm_channels),
    }
    armored_path, binary_path = public_key_paths(project)
    files = {
        armored_path: public_key.encode("utf-8"),
        binary_path: public_key_binary,
        LANDING_PAGE: _render("index.html", context),
    }
    if options.base_url is None:
        return files
    for channel in deb_channels:
        sources, one_line = deb_client_files(project, channel)
        files[sources] = _render("apt.sources", {**context, "channel": channel})
        files[one_line] = _render("apt.list", {**context, "channel": channel})
    for channel in rpm_channels:
        files[rpm_client_file(project, channel)] = _render(
            "rpm.repo", {**context, "channel": channel}
        )
    if rpm_channels:
        files[f"{RPM}/{project}-zypper.txt"] = _render("zypper.txt", context)
    return files


def _render(name: str, context: Mapping[str, object]) -> bytes:
    return _environment().get_template(name).render(context).encode("utf-8")
