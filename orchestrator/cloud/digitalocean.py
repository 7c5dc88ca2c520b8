"""DigitalOcean droplets through python-digitalocean, with retries it does not have.

python-digitalocean 1.17 turns every error into a bare message and drops the status and
the ``Retry-After``/``ratelimit-reset`` headers. :class:`_Checked` hooks its private
request method (name-mangled ``_BaseAPI__perform_request``; the version is pinned) to
raise typed errors carrying them, and :class:`DigitalOceanClient` retries 429, 5xx and
connection errors with tenacity, waiting as long as the API asks.

The same code talks to the real API and to the sandbox emulator: only the end point
differs. Every object is given the end point explicitly, because python-digitalocean
does not pass ``end_point=`` on to the objects it returns.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import tenacity

from orchestrator.cloud.apierror import ApiError
from orchestrator.config.credentials import DIGITALOCEAN_TOKEN
from orchestrator.config.schema import Network
from orchestrator.errors import CloudError, CredentialsError

T = TypeVar("T")

REAL_API = "https://api.digitalocean.com/v2/"
TOKEN_VARIABLE = DIGITALOCEAN_TOKEN
REQUEST_TIMEOUT_SECONDS = 30.0
RETRY_DEADLINE_SECONDS = 180.0
MAX_WAIT_SECONDS = 60.0


class RateLimited(CloudError):
    """The API refused with 429 and asked for a longer wait than the caller has."""


@dataclass(frozen=True)
class DropletInfo:
    """What the tool needs to know about a live droplet."""

    id: int
    name: str
    status: str
    tags: tuple[str, ...]
    created_at: datetime
    size: str
    price_hourly: float
    region: str
    public_ipv4: str | None
    private_ipv4: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> DropletInfo:
        """Build from a droplet object as the API returns it."""
        networks = data.get("networks", {}).get("v4", [])

        def address(network: Network) -> str | None:
            # By type, not by place: the API lists the private interface first.
            found = [n["ip_address"] for n in networks if n.get("type") == network]
            return str(found[0]) if found else None

        size = data.get("size") or {}
        region = data.get("region") or {}
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            status=str(data["status"]),
            tags=tuple(data.get("tags") or ()),
            created_at=datetime.fromisoformat(str(data["created_at"]).replace("Z", "+00:00")),
            size=str(data.get("size_slug") or size.get("slug", "")),
            price_hourly=float(size.get("price_hourly", 0.0)),
            region=str(region.get("slug", "")),
            public_ipv4=address("public"),
            private_ipv4=address("private"),
        )

    def ipv4(self, network: Network) -> str | None:
        """The droplet's IPv4 address on ``network``; None while it has none there."""
        return self.public_ipv4 if network == "public" else self.private_ipv4

    def age_seconds(self, now: datetime) -> float:
        """Seconds since the droplet was created."""
        return max(0.0, (now - self.created_at).total_seconds())

    def cost_so_far(self, now: datetime) -> float:
        """Estimated cost in USD from the size's hourly price."""
        return self.price_hourly * self.age_seconds(now) / 3600.0


def not_on_network(droplet: DropletInfo, network: Network, setting: str) -> str:
    """Why ``droplet`` cannot be reached on ``network``, which ``setting`` asks for; the way out."""
    other = "public" if network == "private" else "private"
    return (
        f"droplet {droplet.name} ({droplet.id}, {droplet.status}) has no {network} IPv4 "
        f"address, and {setting} is {network}: set {setting}: {other} to reach droplets on "
        f"their {other} address"
    )


@dataclass(frozen=True)
class DropletRequest:
    """One droplet to create."""

    name: str
    region: str
    size: str
    image: str
    tags: tuple[str, ...]
    user_data: str
    ssh_keys: tuple[int | str, ...] = ()
    vpc_uuid: str | None = None  # None: the region's default VPC

    def __repr__(self) -> str:
        # user_data holds the droplet's private host key: never print it.
        return f"DropletRequest(name={self.name!r}, size={self.size!r}, image={self.image!r})"


def token_from_environment() -> str:
    """The API token from ``DIGITALOCEAN_ACCESS_TOKEN``; a usage error when it is missing."""
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise CredentialsError(
            f"{TOKEN_VARIABLE} is not set: export a DigitalOcean API token with the scopes "
            "the README's DigitalOcean guide lists, or rehearse on an inventory with "
            "cloud.sandbox"
        )
    return token


class DigitalOceanClient:
    """Droplet operations against one API end point, retried on 429, 5xx and network errors."""

    def __init__(
        self,
        token: str,
        end_point: str = REAL_API,
        *,
        retry_deadline: float = RETRY_DEADLINE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not end_point.endswith("/v2/"):
            raise CloudError(f"API end point {end_point!r} must end in /v2/")
        self._token = token
        self._end_point = end_point
        self._retry_deadline = retry_deadline
        self._sleep = sleep
        # python-digitalocean has no timeout unless this is set; it reads it per request.
        os.environ.setdefault(
            "PYTHON_DIGITALOCEAN_REQUEST_TIMEOUT_SEC", str(REQUEST_TIMEOUT_SECONDS)
        )

    def __repr__(self) -> str:
        return f"DigitalOceanClient(end_point={self._end_point!r})"

    @property
    def end_point(self) -> str:
        """The API base URL."""
        return self._end_point

    def _manager(self) -> Any:
        from orchestrator.cloud import doapi  # on first use: see its docstring

        return doapi.Manager(token=self._token, end_point=self._end_point)

    def _call(self, operation: Callable[[], T], deadline: float | None = None) -> T:
        """Run ``operation``, retrying what may succeed later until the retry deadline.

        ``deadline`` (monotonic) ends the retries sooner, for a caller that must finish by
        then. A rate limit that asks for a longer wait than is left (or than
        :data:`MAX_WAIT_SECONDS`) is not waited out: it fails at once, saying so.
        """
        from orchestrator.cloud import doapi  # on first use: see its docstring

        end = time.monotonic() + self._retry_deadline
        if deadline is not None:
            end = min(end, deadline)

        def worth_waiting(error: BaseException) -> bool:
            if not _is_retryable(error):
                return False
            hint = error.wait_hint(time.time()) if isinstance(error, ApiError) else None
            return hint is None or (hint <= MAX_WAIT_SECONDS and time.monotonic() + hint < end)

        def wait(state: tenacity.RetryCallState) -> float:
            return min(_wait_as_asked(state), max(0.0, end - time.monotonic()))

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(worth_waiting),
            wait=wait,
            stop=lambda _state: time.monotonic() >= end,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(operation)
        except ApiError as error:
            if error.status == 401:
                raise CredentialsError(
                    f"the DigitalOcean API at {self._end_point} rejected the token (401): "
                    f"check {TOKEN_VARIABLE}"
                ) from None
            if error.status == 429:
                hint = error.wait_hint(time.time())
                asked = f", asking to wait {hint:.0f}s" if hint is not None else ""
                raise RateLimited(
                    f"the DigitalOcean API at {self._end_point} rate-limited the tool "
                    f"(429{asked}): try again later, or lower cloud.max_droplets"
                ) from None
            raise
        except doapi.RequestException as error:
            raise CloudError(
                f"cannot reach the DigitalOcean API at {self._end_point}: {error.__class__.__name__}"
            ) from None

    def droplet_limit(self) -> int:
        """The account's droplet limit."""
        data = self._call(lambda: self._manager().get_data("account/"))
        return int(data["account"]["droplet_limit"])

    def droplet_count(self) -> int:
        """How many droplets the account has, all tags (one small request)."""
        data = self._call(
            lambda: self._manager().get_data("droplets/", params={"per_page": 1, "page": 1})
        )
        return int(data.get("meta", {}).get("total", len(data.get("droplets", []))))

    def list_droplets(self, tag: str, deadline: float | None = None) -> list[DropletInfo]:
        """Every droplet carrying ``tag`` (all pages)."""
        data = self._call(
            lambda: self._manager().get_data("droplets/", params={"tag_name": tag}), deadline
        )
        return [DropletInfo.from_api(item) for item in data.get("droplets", [])]

    def get_droplet(self, droplet_id: int, deadline: float | None = None) -> DropletInfo | None:
        """The droplet with ``droplet_id``, or None when it no longer exists."""
        try:
            data = self._call(lambda: self._manager().get_data(f"droplets/{droplet_id}"), deadline)
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        return DropletInfo.from_api(data["droplet"])

    def create_droplet(self, request: DropletRequest, run_tag: str) -> int:
        """Create one droplet and return its id.

        A create is not idempotent, so before each retry the run's droplets are listed:
        names are deterministic, and a droplet that was created despite an error answer
        is adopted instead of duplicated.
        """
        attempts = 0

        def create() -> int:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                for existing in self.list_droplets(run_tag):
                    if existing.name == request.name:
                        return existing.id
            from orchestrator.cloud import doapi  # on first use: see its docstring

            droplet = doapi.Droplet(
                token=self._token,
                end_point=self._end_point,
                name=request.name,
                region=request.region,
                size_slug=request.size,
                image=request.image,
                tags=list(request.tags),
                ssh_keys=list(request.ssh_keys),
                user_data=request.user_data,
                monitoring=False,
                vpc_uuid=request.vpc_uuid,
            )
            droplet.create()
            return int(droplet.id)

        return self._call(create)

    def delete_droplet(self, droplet_id: int, deadline: float | None = None) -> bool:
        """Destroy a droplet; False when it was already gone (404 counts as gone)."""
        try:
            self._call(
                lambda: self._manager().get_data(f"droplets/{droplet_id}", type="DELETE"),
                deadline,
            )
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True


def _is_retryable(error: BaseException) -> bool:
    from orchestrator.cloud import doapi  # loaded already: only a call can fail

    if isinstance(error, ApiError):
        return error.retryable
    return doapi.is_network_error(error)


def _wait_as_asked(state: tenacity.RetryCallState) -> float:
    """Honour Retry-After / ratelimit-reset; otherwise exponential backoff with jitter."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, ApiError):
        hint = error.wait_hint(datetime.now(UTC).timestamp())
        if hint is not None:
            return min(hint, MAX_WAIT_SECONDS)
    backoff = tenacity.wait_exponential_jitter(multiplier=0.5, max=10.0)
    return float(backoff(state))
