"""Request bodies with a hard size cap enforced while they stream in.

Starlette spools multipart files to disk as they arrive; wrapping ``receive`` stops a client at
the cap instead of after it has filled the disk (a Content-Length can be absent or lie).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediastudio.kit.errors import FileTooLarge, error_response


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


class BodyLimitMiddleware:
    """Caps every request body (JSON included) at ``limit`` bytes, except under the paths in
    ``exempt`` (uploads, which cap themselves higher). A declared Content-Length over the cap is
    refused before anything is read; a chunked body is counted as it arrives, and once over the
    cap whatever the app made of the cut-off body is replaced by the same 413 envelope."""

    def __init__(self, app: ASGIApp, *, limit: int, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        refusal = error_response(
            413, FileTooLarge.code, _message(self.limit), details={"max_bytes": self.limit}
        )
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await refusal(scope, receive, send)
            return
        received = 0
        over = False

        async def counting_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not over:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not over:
                raise  # not ours: the error boundary inside has already had its say
        if over:
            await refusal(scope, receive, send)
