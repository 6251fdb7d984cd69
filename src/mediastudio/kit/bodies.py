"""Request bodies with a hard size cap enforced while they stream in.

Starlette spools multipart files to disk as they arrive; wrapping ``receive`` stops a client at
the cap instead of after it has filled the disk (a Content-Length can be absent or lie).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Message

from mediastudio.kit.errors import FileTooLarge


def capped(request: Request, limit: int) -> Request:
    """A view of ``request`` whose body raises :class:`FileTooLarge` past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise FileTooLarge(_message(limit), details={"max_bytes": limit})
    received = 0
    upstream = request.receive

    async def receive() -> Message:
        nonlocal received
        message = await upstream()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise FileTooLarge(_message(limit), details={"max_bytes": limit})
        return message

    return Request(request.scope, receive)


def _message(limit: int) -> str:
    return f"The upload is larger than {limit:,} bytes."
