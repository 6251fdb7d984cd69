"""Request bodies with a hard size cap enforced while they stream in.

Starlette spools multipart files to disk as they arrive; counting what ``receive`` hands over
stops a client at the cap instead of after it has filled the disk (a Content-Length can be
absent or lie).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediastudio.kit.errors import FileTooLarge, error_response


class BodyLimitMiddleware:
    """Caps every request body at ``limit`` bytes, or at ``limits[prefix]`` under a path prefix
    (uploads get a larger cap). A declared Content-Length over the cap is refused before anything
    is read; a chunked body is counted as it arrives, and once over the cap whatever the app made
    of the cut-off body is replaced by the same 413 envelope."""

    def __init__(
        self, app: ASGIApp, *, limit: int, limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.default = limit
        self.limits = dict(limits or {})

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits.items():
            if path.startswith(prefix):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope.get("path", "")))
        refusal = error_response(
            413,
            FileTooLarge.code,
            f"The request body is larger than {limit:,} bytes.",
            details={"max_bytes": limit},
        )
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await refusal(scope, receive, send)
            return
        received = 0
        over = False

        async def counting_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
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
