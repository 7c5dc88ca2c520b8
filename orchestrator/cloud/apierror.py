"""An answer of the DigitalOcean API that is not a success, and how long it asks to wait."""

from __future__ import annotations

from orchestrator.errors import CloudError


class ApiError(CloudError):
    """A non-success answer from the API, with its status, error id and headers."""

    def __init__(self, status: int, error_id: str, message: str, headers: dict[str, str]) -> None:
        super().__init__(f"DigitalOcean API answered {status} ({error_id}): {message}")
        self.status = status
        self.error_id = error_id
        self.api_message = message
        self.headers = headers

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later (rate limit or server trouble)."""
        return self.status == 429 or self.status >= 500

    def wait_hint(self, now: float) -> float | None:
        """Seconds the API asked us to wait, from ``Retry-After`` or ``ratelimit-reset``."""
        retry_after = self.headers.get("retry-after")
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                pass
        reset = self.headers.get("ratelimit-reset")
        if self.status == 429 and reset is not None:
            try:
                return max(0.0, float(reset) - now)
            except ValueError:
                pass
        return None
