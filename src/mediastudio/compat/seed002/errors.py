"""Seed 002's error shape: ``{"error": "<message>", "code": <HTTP status>}``.

Its clients read the status and show the message: the status is the contract (400, 401, 429,
500, 502 in the seed's table; 402, 403, 404 where MediaStudio refuses for a reason the seed never
had). One field is added, ``reason``: MediaStudio's own code (``quota_exceeded`` or
``rate_limited`` for a 429…), which a seed client ignores and a person reading the answer needs.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

# The paths whose errors take this shape (the first matching prefix of the app's renderers).
PREFIXES = ("/api/generate", "/api/status/", "/api/chat")


def render_seed002_error(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None,
    headers: dict[str, str] | None,
) -> JSONResponse:
    """The :class:`~mediastudio.kit.errors.ErrorRenderer` of seed 002's paths."""
    body = {"error": message, "code": status, "reason": code}
    return JSONResponse(body, status_code=status, headers=headers)
