"""The inventory's ``cloud.sandbox``: the local rehearsal cloud's state, addresses and faults.

Pure pydantic models without side effects, so the inventory can embed them.

Faults are a list of :class:`FaultRule`; ``kind`` says what a rule does:

``rate_limit``
    Answer 429 with ``Retry-After: <retry_after>`` to requests matching ``method`` and ``path``.
``server_error``
    Answer ``status`` (500 or 503) to requests matching ``method`` and ``path``.
``stuck_new``
    Droplets whose name matches ``name`` never leave the ``new`` status.
``sshd_down``
    Droplets whose name matches ``name`` become ``active`` but their sshd never starts.
``foreign_host_key``
    Droplets whose name matches ``name`` ignore the host key in their cloud-init and
    present another one, as a tampered image or a man in the middle would.
``no_private_address``
    Droplets whose name matches ``name`` are created without a private address, as a
    droplet made before DigitalOcean put every droplet in a VPC is.

For the two request kinds, ``method`` is a regular expression matched against the whole HTTP
method (case-insensitive) and ``path`` one searched in the URL path (``/v2/droplets/123``);
a missing one matches everything. The first ``after`` matching requests pass, the next
``times`` fail, later ones pass again. Counters restart whenever the fault list changes.
The account limit (``droplet_limit``) and the lingering delete (``delete_linger``) are plain
settings rather than rules.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")

REQUEST_FAULTS = frozenset({"rate_limit", "server_error"})
DROPLET_FAULTS = frozenset({"stuck_new", "sshd_down", "foreign_host_key", "no_private_address"})

# Fields that only make sense for some kinds; anything else set explicitly is a mistake.
_FIELDS_OF_KIND: dict[str, frozenset[str]] = {
    "rate_limit": frozenset({"kind", "method", "path", "times", "after", "retry_after"}),
    "server_error": frozenset({"kind", "method", "path", "times", "after", "status"}),
    "stuck_new": frozenset({"kind", "name"}),
    "sshd_down": frozenset({"kind", "name"}),
    "foreign_host_key": frozenset({"kind", "name"}),
    "no_private_address": frozenset({"kind", "name"}),
}


class FaultRule(BaseModel):
    """One injected fault; ``kind`` selects which of the other fields apply (see module doc)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)

    kind: Literal[
        "rate_limit", "server_error", "stuck_new", "sshd_down", "foreign_host_key",
        "no_private_address",
    ]  # fmt: skip
    method: str | None = Field(default=None, description="regex on the HTTP method")
    path: str | None = Field(default=None, description="regex searched in the URL path")
    times: int = Field(default=1, ge=1, le=10**9, description="how many matching requests fail")
    after: int = Field(
        default=0, ge=0, le=10**9, description="how many matching requests pass first"
    )
    retry_after: int = Field(default=1, ge=0, le=86400, description="Retry-After seconds of a 429")
    status: Literal[500, 503] = 500
    name: str | None = Field(default=None, description="regex searched in droplet names")

    @field_validator("method", "path", "name")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> FaultRule:
        # Judged by value, not by presence: a dumped rule lists every field with its default.
        stray = sorted(
            name
            for name, field in type(self).model_fields.items()
            if name not in _FIELDS_OF_KIND[self.kind] and getattr(self, name) != field.default
        )
        if stray:
            raise ValueError(f"fault kind {self.kind!r} does not take {', '.join(stray)}")
        if self.kind in DROPLET_FAULTS and self.name is None:
            raise ValueError(f"fault kind {self.kind!r} needs 'name', a regex on droplet names")
        return self

    def matches_request(self, method: str, path: str) -> bool:
        """Whether this request-fault rule applies to a request (ignores after/times)."""
        if self.kind not in REQUEST_FAULTS:
            return False
        if self.method is not None and not re.fullmatch(self.method, method, re.IGNORECASE):
            return False
        return self.path is None or re.search(self.path, path) is not None

    def matches_droplet(self, name: str) -> bool:
        """Whether this droplet-fault rule applies to a droplet name."""
        return self.kind in DROPLET_FAULTS and re.search(self.name or "", name) is not None


class SandboxSettings(BaseModel):
    """Where the sandbox keeps its files, where it listens, and how it misbehaves."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)

    state_dir: Path = Path(".orchestrator/sandbox")
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8757, ge=1, le=65535)
    address_pool: str = Field(
        default="127.77.0.0/24", description="loopback network droplets' public addresses come from"
    )
    private_address_pool: str = Field(
        default="127.75.0.0/24",
        description="loopback network droplets' private (VPC) addresses come from; its own, "
        "apart from address_pool",
    )
    ssh_port: int = Field(default=22, ge=1, le=65535)
    boot_delay: float = Field(default=1.0, ge=0, le=3600, description="seconds a droplet stays new")
    droplet_limit: int = Field(
        default=25, ge=0, le=10_000, description="the account's droplet limit"
    )
    delete_linger: float = Field(
        default=0.0, ge=0, le=3600, description="seconds a deleted droplet stays listed"
    )
    faults: list[FaultRule] = []
    repo_server_address: str = Field(
        default="127.76.0.1",
        description="loopback address of the repo server host (its sshd and HTTP server); "
        "outside address_pool and private_address_pool",
    )
    repo_http_port: int = Field(
        default=8758, ge=1, le=65535, description="port of the HTTP server serving 'current'"
    )
    registry_address: str = Field(
        default="127.79.0.1",
        description="loopback address of the container registry (started for image targets)",
    )
    registry_port: int = Field(default=5000, ge=1, le=65535)
    python_index_address: str = Field(
        default="127.79.0.3",
        description="loopback address of the Python package index (pypiserver)",
    )
    python_index_port: int = Field(default=8759, ge=1, le=65535)
    engine_address: str = Field(
        default="127.79.0.2",
        description="loopback address of the server whose Docker engine builds images; "
        "droplets find it as DOCKER_HOST",
    )

    @field_validator(
        "api_host",
        "repo_server_address",
        "registry_address",
        "engine_address",
        "python_index_address",
    )
    @classmethod
    def _loopback_address(cls, value: str, info: ValidationInfo) -> str:
        try:
            address = ipaddress.IPv4Address(value)
        except ValueError as exc:
            raise ValueError(
                f"{info.field_name} {value!r} must be an IPv4 address in 127.0.0.0/8"
            ) from exc
        if address not in LOOPBACK:
            raise ValueError(
                f"{info.field_name} {value} is outside 127.0.0.0/8; the sandbox stays local"
            )
        return value

    @field_validator("address_pool", "private_address_pool")
    @classmethod
    def _loopback_pool(cls, value: str, info: ValidationInfo) -> str:
        try:
            network = ipaddress.IPv4Network(value)
        except ValueError as exc:
            raise ValueError(
                f"{info.field_name} {value!r} must be a network such as 127.77.0.0/24: {exc}"
            ) from exc
        if not network.subnet_of(LOOPBACK):
            raise ValueError(
                f"{info.field_name} {value} is outside 127.0.0.0/8; the sandbox stays local"
            )
        if network.num_addresses < 4:
            raise ValueError(f"{info.field_name} {value} is too small: use at most a /30")
        return value

    @model_validator(mode="after")
    def _pools_apart(self) -> SandboxSettings:
        # A droplet could otherwise be given another droplet's or a service's address.
        pools = {
            name: ipaddress.IPv4Network(getattr(self, name))
            for name in ("address_pool", "private_address_pool")
        }
        if pools["address_pool"].overlaps(pools["private_address_pool"]):
            raise ValueError(
                f"private_address_pool {self.private_address_pool} overlaps address_pool "
                f"{self.address_pool}: give each pool a network of its own"
            )
        for name in (
            "repo_server_address",
            "registry_address",
            "engine_address",
            "python_index_address",
        ):
            for pool_name, pool in pools.items():
                if ipaddress.IPv4Address(getattr(self, name)) in pool:
                    raise ValueError(
                        f"{name} {getattr(self, name)} is inside {pool_name} "
                        f"{getattr(self, pool_name)}: pick an address outside it"
                    )
        return self
