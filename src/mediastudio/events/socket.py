"""The WebSocket side of live events: authenticate, then pump events and answer the client.

Server → client messages are JSON objects with a ``type``: ``ready``, ``generation.status``,
``generation.progress``, ``generation.completed`` / ``.partially_completed`` / ``.failed`` /
``.cancelled``, ``subscribed``, ``unsubscribed``, ``pong`` and ``error`` (``{"type": "error",
"error": {code, message, request_id}}``, the API's error envelope). Client → server:
``{"type": "subscribe", "generation_id"}``, ``{"type": "unsubscribe", "generation_id"?}``,
``{"type": "ping"}``. A refused connection gets one ``error`` message, then close code 1008
(policy violation).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import WebSocket
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect, WebSocketState

from mediastudio.events.service import (
    AccessCheck,
    Listener,
    Outgoing,
    Render,
    listening,
    stream,
)
from mediastudio.keys.auth import principal_for, recheck_reader
from mediastudio.keys.principal import Principal
from mediastudio.keys.service import ensure_scope
from mediastudio.kit.errors import InvalidRequest, MediaStudioError, MissingApiKey, RateLimited
from mediastudio.kit.ids import new_id
from mediastudio.platform import Platform

logger = logging.getLogger("mediastudio.events")

POLICY_VIOLATION = 1008
MAX_MESSAGE_BYTES = 4096
_ONLY_BEARER = "Send 'Authorization: Bearer <key>' or '?token=' from POST /api/v1/ws/token."


def message_of(out: Outgoing) -> dict[str, Any]:
    body = out.body()
    if out.generation_id is not None:
        body["type"] = f"generation.{out.type}"
    return body


def error_message(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, MediaStudioError):
        error: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.details:
            error["details"] = exc.details
    else:
        error = {"code": "internal_error", "message": MediaStudioError.default_message}
    return {"type": "error", "error": {**error, "request_id": new_id("req")}}


async def authenticate(platform: Platform, websocket: WebSocket, token: str | None) -> Principal:
    """The caller, from ``Authorization: Bearer`` or else ``?token=``; scope ``read``."""
    header = websocket.headers.get("authorization")
    client_ip = websocket.client.host if websocket.client else None
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise MissingApiKey(_ONLY_BEARER)
        principal = await principal_for(platform, client_ip, secret=secret.strip())
    elif token:
        principal = await principal_for(platform, client_ip, token=token)
    else:
        raise MissingApiKey(_ONLY_BEARER)
    ensure_scope(principal, "read")
    expression = principal.plan.rate_limit
    if expression is not None:
        decision = await platform.limiter.hit(expression, "general", principal.key_id)
        if decision is not None and not decision.allowed:
            raise RateLimited(details={"limit": decision.limit, "reset": decision.reset_at})
    return principal


def access_check(
    platform: Platform, principal: Principal, connection: HTTPConnection
) -> AccessCheck:
    """The periodic check that ends a stream (SSE or WebSocket) once its key may no longer
    read."""
    client_ip = connection.client.host if connection.client else None
    return AccessCheck(
        check=lambda: recheck_reader(platform, principal, client_ip),
        every_s=platform.settings.events_access_recheck_s,
    )


async def refuse(websocket: WebSocket, exc: BaseException) -> None:
    """Tell the client why in the error envelope, then close with 1008."""
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.send_json(error_message(exc))
        await websocket.close(POLICY_VIOLATION, getattr(exc, "code", "error"))


class SocketSession:
    """One accepted, authenticated connection with its listener."""

    def __init__(self, websocket: WebSocket, platform: Platform, listener: Listener) -> None:
        self.websocket = websocket
        self.platform = platform
        self.listener = listener
        self._lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        async with self._lock:
            await self.websocket.send_text(
                json.dumps(message, separators=(",", ":"), ensure_ascii=False)
            )

    async def pump(self, last_event_id: str | None, access: AccessCheck) -> None:
        """Bus → client, until the connection goes away or its key may no longer read (then
        the error envelope and close code 1008)."""
        try:
            async for out in stream(
                self.listener,
                self.platform.bus,
                last_event_id,
                heartbeat_s=self.platform.settings.events_heartbeat_s,
                announce_ready=True,
                end_after_terminal=False,
                access=access,
            ):
                if out is not None:  # keep-alive: the server's WebSocket pings do that job
                    await self.send(message_of(out))
        except MediaStudioError as exc:
            async with self._lock:
                await refuse(self.websocket, exc)

    async def receive(self) -> None:
        """Client → server, until it disconnects."""
        while True:
            text = await self.websocket.receive_text()
            try:
                reply = await self._handle(text)
            except MediaStudioError as exc:
                reply = error_message(exc)
            await self.send(reply)

    async def _handle(self, text: str) -> dict[str, Any]:
        if len(text) > MAX_MESSAGE_BYTES:
            raise InvalidRequest("Message too large.")
        try:
            message = json.loads(text)
        except ValueError:
            raise InvalidRequest("Messages are JSON objects with a 'type'.") from None
        if not isinstance(message, dict):
            raise InvalidRequest("Messages are JSON objects with a 'type'.")
        kind = message.get("type")
        generation_id = message.get("generation_id")
        if generation_id is not None and not isinstance(generation_id, str):
            raise InvalidRequest("generation_id must be a string.")
        if kind == "ping":
            return {"type": "pong"}
        if kind == "subscribe" and generation_id:
            state = await self.listener.follow(generation_id, self.platform.bus)
            await self.send(message_of(state))
            return {"type": "subscribed", "generation_id": generation_id}
        if kind == "unsubscribe":
            self.listener.unfollow(generation_id)
            return {"type": "unsubscribed", "generation_id": generation_id}
        raise InvalidRequest(
            "Unknown message; send {'type': 'subscribe', 'generation_id': …}, "
            "{'type': 'unsubscribe', 'generation_id'?: …} or {'type': 'ping'}."
        )


async def serve(
    websocket: WebSocket,
    platform: Platform,
    render: Render,
    *,
    token: str | None,
    last_event_id: str | None,
    generation_id: str | None,
) -> None:
    """One WebSocket connection from handshake to close."""
    await websocket.accept()
    try:
        principal = await authenticate(platform, websocket, token)
    except MediaStudioError as exc:
        await refuse(websocket, exc)
        return
    async with listening(platform.bus, platform.generations, principal, render) as listener:
        if generation_id:
            try:
                await listener.follow(generation_id, platform.bus)
            except MediaStudioError as exc:
                await refuse(websocket, exc)
                return
        session = SocketSession(websocket, platform, listener)
        access = access_check(platform, principal, websocket)
        pump = asyncio.create_task(session.pump(last_event_id, access))
        receive = asyncio.create_task(session.receive())
        try:
            await asyncio.wait({pump, receive}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, receive):
                task.cancel()
            for task in (pump, receive):
                try:
                    await task
                except (asyncio.CancelledError, WebSocketDisconnect):
                    pass
                except Exception:
                    logger.exception("event socket failed; closing it")
            if websocket.application_state == WebSocketState.CONNECTED:
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                    await websocket.close()
