"""The one middleware every request passes: request id, rate-limit headers, body cap, and the
error boundary, in a single pure-ASGI pass.

They were four middlewares, nested in this order (outermost first); each wrapped ``send`` (and
the body cap ``receive``) in a closure of its own, so every request paid four coroutine layers
and every response message four hops, and the body cap built its 413 response up front on
every request. One layer does the same, in the same order:

1. **Request id** (kit/requestid.py): the client's sane ``X-Request-Id`` or a minted one, in a
   context variable for logs and error bodies, and as the last header of every response.
2. **Rate-limit headers**: the ``X-RateLimit-*`` that authentication stored in the request's
   state (kit/ratelimit.py), on whatever response the route produced (JSON, error, replay,
   stream), before the request id.
3. **Body cap** (kit/bodies.py): a declared Content-Length over the cap is refused before
   anything is read; a streamed body is counted as it arrives, and once over the cap whatever
   the app made of the cut-off body is replaced by the same 413 envelope.
4. **Error boundary** (kit/errors.py): an unexpected exception becomes a 500 envelope without
   internals (a full disk a 503 ``insufficient_storage`` with ``Retry-After``); a client that
   went away (``ClientDisconnect``) gets no answer and no error log. Starlette's own catch-all
   runs outside every middleware, where the request id and rate-limit headers are gone.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediastudio.kit.bodies import BodyLimits, refusal
from mediastudio.kit.errors import NUL_MESSAGE, boundary_response, unexpected_error_response
from mediastudio.kit.errors import logger as errors_logger
from mediastudio.kit.ratelimit import STATE_KEY
from mediastudio.kit.requestid import client_request_id, reset_request_id, set_request_id


class EdgeMiddleware:
    def __init__(
        self, app: ASGIApp, *, limit: int, limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.limits = BodyLimits(limit, limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, token = set_request_id(client_request_id(scope))
        try:
            await self._http(scope, receive, send, request_id.encode())
        finally:
            reset_request_id(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: bytes) -> None:
        limit = self.limits.for_path(scope["path"])

        async def outer_send(message: Message) -> None:
            # Rate-limit headers, then the request id: what the two middlewares did, in order.
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                decision = scope.get("state", {}).get(STATE_KEY)
                if decision is not None:
                    headers += [
                        (k.lower().encode(), v.encode()) for k, v in decision.headers().items()
                    ]
                headers.append((b"x-request-id", request_id))
                message["headers"] = headers
            await send(message)

        if self.limits.declared_over(scope, limit):
            await refusal(limit)(scope, receive, outer_send)
            return
        received = 0
        over = False  # the body passed the cap: the app's answer is dropped for the 413
        nul = False  # a JSON body holds an escaped NUL: the app's answer is dropped for a 400
        tail = b""  # the end of the previous body chunk, for an escape split between chunks
        started = False  # the app began its answer: too late for an error envelope

        async def counting_receive() -> Message:
            nonlocal received, over, nul, tail
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                if received > limit:
                    over = True
                    return {"type": "http.disconnect"}
                # A plain substring search first: the exact check runs only on a candidate.
                candidate = _NUL_ESCAPE in tail + body[:8] or _NUL_ESCAPE in body
                if candidate and has_nul_escape(tail + body) and is_json(scope):
                    nul = True
                    return {"type": "http.disconnect"}
                tail = (tail + body)[-_TAIL:]
            return message

        async def app_send(message: Message) -> None:
            nonlocal started
            if not (over or nul):
                # Only what reaches the client counts: a dropped answer leaves room for ours.
                started = started or message["type"] == "http.response.start"
                await outer_send(message)

        try:
            await self.app(scope, counting_receive, app_send)
        except ClientDisconnect:
            errors_logger.debug(
                "client went away during %s %s", scope.get("method"), scope.get("path")
            )
        except Exception as exc:
            response = unexpected_error_response(scope, exc)  # logs it
            if started:
                if not over:
                    raise
            else:
                await response(scope, receive, app_send)
        if over:
            await refusal(limit)(scope, receive, outer_send)
        elif nul and not started:
            await boundary_response(scope, 400, "invalid_request", NUL_MESSAGE, None)(
                scope, receive, outer_send
            )


# NUL in a JSON string (``\u0000``) is valid JSON but no text PostgreSQL stores (SQLite would
# keep it): refused for every JSON body at the edge, the same 400 on both databases, before a
# route or the database sees it. Forms and query strings reach the database's refusal instead
# (kit/errors.py, is_nul_refused): the same 400 on PostgreSQL.
_NUL_ESCAPE = b"u0000"
_TAIL = 64


def has_nul_escape(data: bytes) -> bool:
    """True when ``data`` holds ``\u0000`` whose backslash is not itself escaped (an odd run of
    backslashes before ``u0000``: ``\\u0000`` is a backslash and the text "u0000")."""
    start = data.find(b"\\" + _NUL_ESCAPE)
    while start != -1:
        run = 0
        while start - run >= 0 and data[start - run] == 0x5C:  # backslash
            run += 1
        if run % 2 == 1:
            return True
        start = data.find(b"\\" + _NUL_ESCAPE, start + 1)
    return False


def is_json(scope: Scope) -> bool:
    """The request says its body is JSON (``application/json`` or a ``+json`` type)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind: bytes = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return False
