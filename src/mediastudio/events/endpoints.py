"""HTTP for live events: two Server-Sent Events streams, a WebSocket, and its token.

- ``GET /api/v1/generations/{id}/events``: one generation; its current state at once, then live
  events; ends after the final event.
- ``GET /api/v1/events``: every generation of the account (in the key's mode); never ends.
- ``GET /api/v1/ws``: the same events as JSON messages; clients may narrow it to generations.
- ``POST /api/v1/ws/token``: a short-lived token for clients that cannot send headers.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, WebSocket
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.requests import HTTPConnection

from mediastudio.events import socket
from mediastudio.events.schemas import StreamEvent
from mediastudio.events.service import AccessCheck, Outgoing, Render, listening, stream
from mediastudio.generations.schemas import present
from mediastudio.keys import tokens
from mediastudio.keys.auth import ReadPrincipal, StreamPrincipal
from mediastudio.keys.principal import Principal
from mediastudio.kit.errors import ERROR_RESPONSES, MediaStudioError
from mediastudio.platform import Platform, get_platform

router = APIRouter(prefix="/api/v1", tags=["events"], responses=ERROR_RESPONSES)
PlatformDep = Annotated[Platform, Depends(get_platform)]
LastEventId = Annotated[
    str | None,
    Header(alias="Last-Event-ID", max_length=64, description="Resume after this event id"),
]
LastEventIdQuery = Annotated[
    str | None,
    Query(max_length=64, description="Resume after this event id (for clients without headers)"),
]
# FastAPI documents the model as JSON; events.openapi.document_streams makes it the schema of
# each event of the stream.
SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "model": StreamEvent,
        "description": "A stream of Server-Sent Events (see docs/events.md)",
        "content": {"text/event-stream": {}},
    }
}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
RETRY_MS = 3000


class EventToken(BaseModel):
    token: str
    expires_at: datetime
    expires_in: int


def renderer(connection: HTTPConnection, platform: Platform) -> Render:
    """The full generation object, with output URLs signed for this client."""
    url_for = platform.signed_urls(str(connection.base_url))

    def render(generation: Any) -> dict[str, Any]:
        return present(generation, url_for).model_dump(mode="json")

    return render


def encode(out: Outgoing) -> str:
    data = json.dumps(out.body(), separators=(",", ":"), ensure_ascii=False)
    return f"id: {out.id}\nevent: {out.type}\ndata: {data}\n\n"


def encode_error(exc: MediaStudioError) -> str:
    """The last event of a stream whose key was refused: the API's error envelope."""
    data = json.dumps(socket.error_message(exc), separators=(",", ":"), ensure_ascii=False)
    return f"event: error\ndata: {data}\n\n"


async def _sse(
    platform: Platform,
    principal: Principal,
    render: Render,
    last_event_id: str | None,
    only: set[str] | None,
    access: AccessCheck,
) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    async with listening(platform.bus, platform.generations, principal, render, only) as listener:
        try:
            async for out in stream(
                listener,
                platform.bus,
                last_event_id,
                heartbeat_s=platform.settings.events_heartbeat_s,
                announce_ready=only is None,
                end_after_terminal=only is not None,
                access=access,
            ):
                yield ": ping\n\n" if out is None else encode(out)
        except MediaStudioError as exc:
            yield encode_error(exc)


@router.get(
    "/generations/{generation_id}/events",
    summary="Live events of one generation (Server-Sent Events)",
    response_class=StreamingResponse,
    responses=SSE_RESPONSE,
)
async def generation_events(
    request: Request,
    generation_id: str,
    platform: PlatformDep,
    principal: StreamPrincipal,
    last_event_id: LastEventId = None,
    last_event_id_query: Annotated[LastEventIdQuery, Query(alias="last_event_id")] = None,
) -> StreamingResponse:
    """The generation's current state at once, then `status`, `progress` and its final event
    (`completed`, `partially_completed`, `failed` or `cancelled`, with the whole generation),
    after which the stream ends. `: ping` comments keep it alive. Resume with `Last-Event-ID`."""
    await platform.generations.get(principal, generation_id)  # 404 before the stream starts
    return generation_stream(
        request,
        platform,
        principal,
        generation_id,
        last_event_id or last_event_id_query,
        socket.access_check(platform, principal, request),
    )


def generation_stream(
    request: Request,
    platform: Platform,
    principal: Principal,
    generation_id: str,
    last_event_id: str | None,
    access: AccessCheck,
) -> StreamingResponse:
    """One generation's SSE stream for ``principal``: its state, live events, the end after the
    final one. The API route above and the dashboard's Playground (with a session's principal
    and a session check as ``access``) both answer with it, so there is one catch-up logic.
    The caller has already checked that the generation is the principal's (404 otherwise)."""
    body = _sse(
        platform,
        principal,
        renderer(request, platform),
        last_event_id,
        {generation_id},
        access,
    )
    return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)


@router.get(
    "/events",
    summary="Live events of all the account's generations (Server-Sent Events)",
    response_class=StreamingResponse,
    responses=SSE_RESPONSE,
)
async def account_events(
    request: Request,
    platform: PlatformDep,
    principal: StreamPrincipal,
    last_event_id: LastEventId = None,
    last_event_id_query: Annotated[LastEventIdQuery, Query(alias="last_event_id")] = None,
) -> StreamingResponse:
    """Every generation of the account in the key's mode (live or sandbox): the current state
    of the active ones, a `ready` event, then live events. Never ends by itself."""
    body = _sse(
        platform,
        principal,
        renderer(request, platform),
        last_event_id or last_event_id_query,
        None,
        socket.access_check(platform, principal, request),
    )
    return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)


@router.post(
    "/ws/token", summary="A short-lived token for event streams", response_model=EventToken
)
async def event_token(platform: PlatformDep, principal: ReadPrincipal) -> EventToken:
    """For browsers, which cannot set `Authorization` on a WebSocket or an EventSource: pass the
    token as `?token=` to `GET /api/v1/ws` or the SSE routes before it expires."""
    ttl = platform.settings.ws_token_ttl_s
    expires_at = int(time.time()) + ttl
    token = tokens.issue(platform.settings.signing_key(), principal.key_id, expires_at)
    return EventToken(
        token=token, expires_at=datetime.fromtimestamp(expires_at, UTC), expires_in=ttl
    )


@router.websocket("/ws")
async def websocket_events(
    websocket: WebSocket,
    token: Annotated[str | None, Query(max_length=200)] = None,
    last_event_id: Annotated[str | None, Query(max_length=64)] = None,
    generation_id: Annotated[str | None, Query(max_length=40)] = None,
) -> None:
    """Live events as JSON messages; see docs/events.md for the messages both ways."""
    platform: Platform = websocket.app.state.platform
    await socket.serve(
        websocket,
        platform,
        renderer(websocket, platform),
        token=token,
        last_event_id=last_event_id,
        generation_id=generation_id,
    )
