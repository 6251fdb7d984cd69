"""The event bus: how job progress and status changes reach listeners (SSE, WebSocket).

In-process fan-out now; a Redis implementation of the same interface lets many processes share
events later. Events are hints for live listeners: the database stays the truth, and a listener
that missed events reads the current state from it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Event:
    account_id: str
    generation_id: str
    kind: str  # "status" | "progress"
    data: dict[str, Any] = field(default_factory=dict)


class EventBus(Protocol):
    def publish(self, event: Event) -> None: ...

    def subscribe(
        self, account_id: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Event]]: ...


class InProcessBus:
    """Fan-out to per-subscriber queues. A slow subscriber loses its oldest events rather than
    slowing the publisher down."""

    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = {}

    def publish(self, event: Event) -> None:
        for queue in self._subscribers.get(event.account_id, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, account_id: str) -> AsyncIterator[AsyncIterator[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers.setdefault(account_id, set()).add(queue)
        try:
            yield _drain(queue)
        finally:
            self._subscribers[account_id].discard(queue)


async def _drain(queue: asyncio.Queue[Event]) -> AsyncIterator[Event]:
    while True:
        yield await queue.get()
