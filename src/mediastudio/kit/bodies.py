"""Request bodies with a hard size cap enforced while they stream in.

Starlette spools multipart files to disk as they arrive; counting what ``receive`` hands over
stops a client at the cap instead of after it has filled the disk (a Content-Length can be
absent or lie). The counting is done by the edge middleware (kit/edge.py); this module says
which cap applies and what the refusal looks like.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse
from starlette.types import Scope

from mediastudio.kit.errors import FileTooLarge, error_response


class BodyLimits:
    """Every request body is capped at ``limit`` bytes, or at ``limits[prefix]`` under a path
    prefix (uploads get a larger cap)."""

    def __init__(self, limit: int, limits: Mapping[str, int] | None = None) -> None:
        self.default = limit
        self.limits = dict(limits or {})

    def for_path(self, path: str) -> int:
        for prefix, limit in self.limits.items():
            if path.startswith(prefix):
                return limit
        return self.default

    @staticmethod
    def declared_over(scope: Scope, limit: int) -> bool:
        """Whether the request declares a Content-Length over ``limit`` (refused unread)."""
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                return value.isdigit() and int(value) > limit
        return False


def refusal(limit: int) -> JSONResponse:
    """The 413 envelope of a body over ``limit`` bytes (built only when one is refused)."""
    return error_response(
        413,
        FileTooLarge.code,
        f"The request body is larger than {limit:,} bytes.",
        details={"max_bytes": limit},
    )
