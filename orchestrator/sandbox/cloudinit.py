"""What a sandbox host takes from a droplet's cloud-init user data: host key and login keys.

Only the parts cloud-init applies before sshd starts are honoured: the ``ssh_keys`` map
(``ed25519_private``) and ``ssh_authorized_keys`` at the top level and under ``users``.
User data that is not ``#cloud-config`` YAML is ignored, as cloud-init would ignore it here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import yaml

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CloudConfig:
    """The host key and authorized keys found in user data."""

    host_key: str | None = None
    authorized_keys: tuple[str, ...] = ()


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [item.strip() for item in value if isinstance(item, str) and item.strip()]


def parse_user_data(user_data: str | None) -> CloudConfig:
    """The parts of ``#cloud-config`` user data that configure sshd."""
    if not user_data or not user_data.lstrip().startswith("#cloud-config"):
        return CloudConfig()
    try:
        document = yaml.safe_load(user_data)
    except yaml.YAMLError as exc:
        log.warning("user data is not valid YAML, cloud-init would skip it: %s", exc)
        return CloudConfig()
    if not isinstance(document, dict):
        return CloudConfig()
    ssh_keys = document.get("ssh_keys")
    host_key = ssh_keys.get("ed25519_private") if isinstance(ssh_keys, dict) else None
    authorized = _strings(document.get("ssh_authorized_keys"))
    users = document.get("users")
    for user in users if isinstance(users, list) else []:
        if isinstance(user, dict):
            authorized.extend(_strings(user.get("ssh_authorized_keys")))
    return CloudConfig(
        host_key=host_key if isinstance(host_key, str) and host_key.strip() else None,
        authorized_keys=tuple(authorized),
    )
