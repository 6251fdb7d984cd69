"""Seed 000's errors: the native envelope (``{"error": {"code", "message", "details"?}}``; the
native API's shape is seed 000's), with the seed's status for the one code where MediaStudio's
differs: ``insufficient_credits`` is 403 in the seed's table, 402 natively (DESIGN.md keeps 402,
the status that means exactly that, on ``/api/v1``)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from mediastudio.kit.errors import error_response

# Seed 000's base URL on this server: its paths (``/generate/image``…) are the native ones, so its
# answers live under a prefix of their own (docs/compat.md, "Seed 000").
PREFIX = "/compat/seed000/api/v1"

# MediaStudio's status → the seed's, per code, where they differ.
SEED_STATUS: dict[str, int] = {"insufficient_credits": 403}


def render_seed000_error(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None,
    headers: dict[str, str] | None,
) -> JSONResponse:
    """The :class:`~mediastudio.kit.errors.ErrorRenderer` of seed 000's prefix."""
    return error_response(
        SEED_STATUS.get(code, status), code, message, details=details, headers=headers
    )
