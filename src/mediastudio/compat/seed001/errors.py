"""Seed 001's error shape: ``{"error": "<message>", "code": "<UPPER_CASE>"}``.

The seed's codes are one per status (its table); a status it has no code for gets the name of
the status in the same style. ``reason`` is added, MediaStudio's own code (``quota_exceeded``
and ``rate_limited`` are both the seed's ``RATE_LIMITED``), which a seed client ignores.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse

# The paths whose errors take this shape; before seed 002's ``/api/generate``, which they extend.
PREFIXES = (
    "/api/generate/",
    "/api/jobs",
    "/api/usage",
    "/api/settings",
    "/api/keys",
    "/api/voice-agent/",
)

CODES: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    402: "PAYMENT_REQUIRED",
    403: "FORBIDDEN",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def seed_code(status: int) -> str:
    if status in CODES:
        return CODES[status]
    try:
        return HTTPStatus(status).name
    except ValueError:
        return "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST"


def render_seed001_error(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None,
    headers: dict[str, str] | None,
) -> JSONResponse:
    """The :class:`~mediastudio.kit.errors.ErrorRenderer` of seed 001's paths."""
    body = {"error": message, "code": seed_code(status), "reason": code}
    return JSONResponse(body, status_code=status, headers=headers)
