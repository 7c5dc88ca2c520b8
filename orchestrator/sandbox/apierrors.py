"""API errors as DigitalOcean reports them: a status and a body with ``id`` and ``message``.

python-digitalocean reads both fields of every error body, so none may be missing.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: HTTP status, DigitalOcean error id and a human message."""

    def __init__(
        self, status: int, error_id: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        return {"id": self.error_id, "message": self.message}


def not_found() -> ApiError:
    """404 for an unknown resource, worded as DigitalOcean words it."""
    return ApiError(404, "not_found", "The resource you were accessing could not be found.")


def unprocessable(message: str) -> ApiError:
    """422 for a request that is well-formed but cannot be done."""
    return ApiError(422, "unprocessable_entity", message)


def bad_request(message: str) -> ApiError:
    """400 for a request the API cannot read."""
    return ApiError(400, "bad_request", message)
