"""How a stored file is served: Starlette's :class:`FileResponse` (streamed, ``Range``,
``If-Range``, ``HEAD``) with the two answers it gives in plain text made the API's own.

- A ``Range`` header it cannot parse is ignored and the whole file served, as RFC 9110 §14.2
  allows ("a server MAY ignore the Range header field") and as nginx does, instead of a
  plain-text 400: a client with a broken range still gets its file.
- A range past the end is 416 with ``Content-Range: bytes */<size>`` (so a resuming client
  learns the size) and the error in the API's envelope (``range_not_satisfiable``).
"""

from __future__ import annotations

from starlette.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable, Response
from starlette.types import Receive, Scope, Send

from mediastudio.kit.errors import error_response

RANGE_NOT_SATISFIABLE = "range_not_satisfiable"


class _Unsatisfiable(Exception):
    """Raised past Starlette's own 416 handling (it catches RangeNotSatisfiable), before any
    byte is sent, so that this response can answer in the envelope instead."""

    def __init__(self, size: int) -> None:
        self.size = size


class StoredFileResponse(FileResponse):
    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        try:
            return super()._parse_range_header(http_range, file_size)
        except MalformedRangeHeader:
            return []  # no ranges: the whole file, with a 200
        except RangeNotSatisfiable as exc:
            raise _Unsatisfiable(exc.max_size) from exc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except _Unsatisfiable as exc:
            await unsatisfiable(exc.size)(scope, receive, send)


def unsatisfiable(size: int) -> Response:
    return error_response(
        416,
        RANGE_NOT_SATISFIABLE,
        f"The Range header asks for bytes past the end of this {size}-byte file.",
        headers={"Content-Range": f"bytes */{size}"},
    )


def single_range(http_range: str | None, size: int) -> tuple[int, int] | Response | None:
    """For a file streamed from elsewhere (an object store), by the rules above: the one byte
    range ``[start, end)`` asked for; ``None`` for the whole file (no header, a malformed one,
    or several ranges, which RFC 9110 also lets a server answer whole); or the 416 response."""
    if not http_range:
        return None
    try:
        ranges = StoredFileResponse._parse_range_header(http_range, size)
    except _Unsatisfiable as exc:
        return unsatisfiable(exc.size)
    return ranges[0] if len(ranges) == 1 else None
