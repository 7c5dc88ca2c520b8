"""cloud-init user data for build droplets, rendered from ``templates/cloud-init.yaml.j2``."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.templatefiles import templates_environment


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
