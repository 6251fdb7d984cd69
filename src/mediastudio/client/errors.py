"""The SDK's exceptions: one per kind of failure a caller handles differently.

Each carries what the API's error envelope says (``{"error": {code, message, details,
request_id}}``, see ``mediastudio.kit.errors``) so that a caller can log the request id and act
on the code without parsing text.
"""

from __future__ import annotations

from typing import Any


class MediaStudioError(Exception):
    """Base of every SDK error. ``status_code`` is None when no HTTP answer came back."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.details = details
        self.request_id = request_id
        self.headers = headers or {}

    def __str__(self) -> str:
        where = f" (request {self.request_id})" if self.request_id else ""
        code = f"{self.code}: " if self.code else ""
        return f"{code}{self.message}{where}"


class APIConnectionError(MediaStudioError):
    """The server could not be reached, or the connection broke, after every retry."""


class AuthenticationError(MediaStudioError):
    """401: no key, or a key that is invalid, revoked or expired."""


class PermissionDeniedError(MediaStudioError):
    """403: the key lacks a scope, the IP is not allowed, or the plan excludes the model."""


class NotFoundError(MediaStudioError):
    """404: no such resource (or one of another account or mode)."""


class InsufficientCreditsError(MediaStudioError):
    """402: the account has not enough credits for this job."""


class RateLimitError(MediaStudioError):
    """429 after every retry: rate limited or the daily quota is used up."""


class InvalidRequestError(MediaStudioError):
    """400, 409, 413, 422: the request itself is wrong (or conflicts with the resource's state)."""

    @property
    def fields(self) -> list[str]:
        """The body fields the server rejected (``details.fields[].field``), if any."""
        entries = (self.details or {}).get("fields") or []
        return [str(entry.get("field")) for entry in entries if isinstance(entry, dict)]


class ServerError(MediaStudioError):
    """5xx after every retry."""


class GenerationFailedError(MediaStudioError):
    """``run()``: the job ended failed or cancelled; ``generation`` is its final state."""

    def __init__(self, message: str, *, generation: Any, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.generation = generation


_BY_STATUS: dict[int, type[MediaStudioError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: InvalidRequestError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
}


def error_for(status: int, body: Any, headers: dict[str, str]) -> MediaStudioError:
    """The exception for an error answer, from its envelope (or its bare status if it has none)."""
    envelope = body.get("error") if isinstance(body, dict) else None
    if not isinstance(envelope, dict):
        envelope = {}
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else MediaStudioError)
    details = envelope.get("details")
    return kind(
        str(envelope.get("message") or f"HTTP {status}"),
        status_code=status,
        code=envelope.get("code"),
        details=details if isinstance(details, dict) else None,
        request_id=envelope.get("request_id") or headers.get("x-request-id"),
        headers=headers,
    )
