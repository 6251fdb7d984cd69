"""The app served by uvicorn on a loopback port inside the test's event loop, and an SSE reader.

httpx's ASGITransport buffers a response until the app has finished it, so streams (SSE,
WebSocket) are tested over a real socket: same process and loop as the test (fast, and the
platform is at hand for making accounts), real HTTP in between.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from mediastudio.app import create_app
from mediastudio.settings import Settings
from tests import deployment
from tests.conftest import Api, start_migrated


@dataclass
class LiveApi(Api):
    base_url: str = ""
    server: uvicorn.Server | None = None

    @property
    def requests_in_flight(self) -> int:
        """Requests the server is still handling (its ASGI calls that have not returned)."""
        return len(self.server.server_state.tasks) if self.server is not None else 0

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/api/v1/ws"


@asynccontextmanager
async def serve_live(settings: Settings, **options: Any) -> AsyncIterator[LiveApi]:
    """``options`` go to ``uvicorn.Config`` (e.g. what ``mediastudio serve`` adds)."""
    await start_migrated(settings)
    # Distributed (tests/deployment.py): `serve --no-workers` and a worker process beside it.
    app = create_app(settings, run_workers=not deployment.DISTRIBUTED)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", **options
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    worker = deployment.running(deployment.start_worker(settings))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise AssertionError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        base_url = f"http://127.0.0.1:{port}"
        async with (
            worker,
            httpx.AsyncClient(base_url=base_url, timeout=20.0, trust_env=False) as client,
        ):
            yield LiveApi(
                platform=app.state.platform, client=client, base_url=base_url, server=server
            )
    finally:
        server.should_exit = True
        await task


@dataclass
class Sse:
    """One Server-Sent Event, or a comment line (``event`` is ``":"``, ``data`` the text)."""

    event: str
    id: str | None
    data: Any


async def read_sse(response: httpx.Response) -> AsyncIterator[Sse]:
    """Parse an event stream as it arrives (enough of the spec for our server's output)."""
    fields: dict[str, str] = {}
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield Sse(":", None, line[1:].strip())
            continue
        if line == "":
            if data:
                body = json.loads("\n".join(data))
                yield Sse(fields.get("event", "message"), fields.get("id"), body)
            fields, data = {}, []
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        else:
            fields[name] = value


async def collect(
    response: httpx.Response, *, until: str | None = None, limit: float = 20.0
) -> list[Sse]:
    """Every event (comments left out) until the stream ends, or until one of type ``until``."""
    events: list[Sse] = []
    async with asyncio.timeout(limit):
        async for item in read_sse(response):
            if item.event == ":":
                continue
            events.append(item)
            if until is not None and item.event == until:
                break
    return events
