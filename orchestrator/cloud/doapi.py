"""python-digitalocean's Manager and Droplet, with every non-success answer an ApiError.

The one module that imports python-digitalocean and requests, which take longer to import
than the rest of the tool: :class:`~orchestrator.cloud.digitalocean.DigitalOceanClient`
loads it when it first calls the API (:func:`~orchestrator.cloud.digitalocean.doapi`), so
tasks that never do (the task list, ``inventory.check``) do not pay for it.
"""

from __future__ import annotations

from typing import Any

import digitalocean
import requests
from requests import RequestException

from orchestrator.cloud.apierror import ApiError

__all__ = ["Droplet", "Manager", "RequestException", "is_network_error"]


class _Checked(digitalocean.baseapi.BaseAPI):  # type: ignore[misc]
    """Raises :class:`ApiError` for every non-success answer, before the library parses it."""

    def _BaseAPI__perform_request(
        self, url: str, type: str = "GET", params: dict[str, Any] | None = None
    ) -> requests.Response:
        response: requests.Response = super()._BaseAPI__perform_request(url, type, params)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                body = {}
            raise ApiError(
                response.status_code,
                str(body.get("id", "unknown")),
                str(body.get("message", response.reason or "no message")),
                {key.lower(): value for key, value in response.headers.items()},
            )
        return response


class Manager(_Checked, digitalocean.Manager):  # type: ignore[misc]
    """The account-wide calls (``get_data``), checked."""


class Droplet(_Checked, digitalocean.Droplet):  # type: ignore[misc]
    """One droplet to create, checked."""


def is_network_error(error: BaseException) -> bool:
    """Whether ``error`` is a connection failure or timeout, which may pass on a retry."""
    return isinstance(error, requests.ConnectionError | requests.Timeout)
