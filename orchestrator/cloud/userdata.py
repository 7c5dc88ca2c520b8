"""cloud-init user data for build droplets, rendered from ``templates/cloud-init.yaml.j2``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates"


def templates_environment() -> jinja2.Environment:
    """The jinja2 environment over the project's ``templates/`` directory."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
    )


def render_user_data(
    host_private_key: str, host_public_key: str, authorized_keys: Sequence[str]
) -> str:
    """The ``#cloud-config`` that installs a droplet's host key and authorized keys."""
    template = templates_environment().get_template("cloud-init.yaml.j2")
    return template.render(
        host_private_key=host_private_key.strip(),
        host_public_key=host_public_key,
        authorized_keys=list(authorized_keys),
    )
