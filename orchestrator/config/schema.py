"""The building blocks every inventory section is made of: the base model and shared types.

Kept apart from :mod:`orchestrator.config.inventory` so that sections defined elsewhere (the
deploy environments) use the same rules without importing the whole inventory.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*[a-z0-9]$|^[a-z0-9]$"
PACKAGE_NAME_PATTERN = r"^[a-z0-9][a-z0-9.+-]+$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
DAY = 86400.0
# ``host_key: sandbox`` names a host the sandbox made: its key is read from the sandbox.
SANDBOX_HOST_KEY = "sandbox"
# Where everything the sandbox runs, and everything it reaches, listens.
LOOPBACK_IPV4 = ipaddress.ip_network("127.0.0.0/8")

Arch = Literal["amd64", "arm64"]
# How a deploy acts as root on a host it logs in to as another user (Ansible's word).
Become = Literal["sudo"]
# Which of a droplet's addresses the tool connects to: its public one, or its private one
# in its VPC (from a machine inside that VPC, such as a CI runner there).
Network = Literal["public", "private"]
LOGIN_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
PackageName = Annotated[str, Field(pattern=PACKAGE_NAME_PATTERN, max_length=100)]
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)]
ChannelName = Literal["stable", "testing", "nightly"]
# What names an image's repository: the Distribution spec's rule.
REPOSITORY_PATTERN = (
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
# What a webhook may be told of.
EventKind = Literal["release", "deploy", "promote", "rollback"]
# The top of a published repository tree, which the repository code lays out: nothing the
# inventory names beside it (an environments page) may take one of these names.
DEB = "deb"
RPM = "rpm"
KEYS = "keys"
LANDING_PAGE = "index.html"
PUBLISHED = (DEB, RPM, KEYS, LANDING_PAGE)
ALL_CHANNELS: tuple[ChannelName, ...] = ("stable", "testing", "nightly")


class Model(BaseModel):
    """Base of every inventory section: unknown keys are errors, values are immutable.

    Numbers are finite (``.inf`` and ``.nan`` are refused) and bounded where a huge one
    would overflow or wait forever.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback IP address (127.0.0.0/8, ::1); a name never is."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_ipv4(host: str) -> bool:
    """Whether ``host`` is an IPv4 address in 127.0.0.0/8, the sandbox's network; a name never is."""
    try:
        return ipaddress.ip_address(host) in LOOPBACK_IPV4
    except ValueError:
        return False


def host_key_line(value: str) -> str:
    """``value`` as ``TYPE BASE64`` if it is a public key line; ValueError otherwise."""
    parts = value.split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
        raise ValueError("expected a public key line such as 'ssh-ed25519 AAAA...'")
    return " ".join(parts[:2])
