"""The event bus: how job progress and status changes reach live listeners (SSE, WebSocket).

:class:`InProcessBus` fans out in this process; :class:`~mediastudio.kit.redis_events.RedisBus`
fills the same interface on Redis Streams so that every process of a deployment shares one bus
(settings choose: ``MEDIASTUDIO_EVENT_BUS``, ``MEDIASTUDIO_REDIS_URL``). Events are hints for live
listeners: the database stays the truth, and a listener that missed events reads the current
state from it.

Ids. The bus stamps every event with an id ``<epoch>-<seq>``: ``epoch`` is the bus's start time
in milliseconds and ``seq`` a clock that ticks at least once per event: the milliseconds since
``epoch`` times :data:`SEQ_PER_MS`, or one more than the last ``seq`` when that is larger (more
than 1000 events in a millisecond). So ids increase within a process and across restarts,
compare as the pair of integers (the shape of a Redis stream id: the Redis bus XADDs its events
under ids of this same format), and say when they were published (:func:`id_time`), which is
what lets a listener the bus cannot replay for still learn what changed after its last event:
the database is asked for the generations that finished after that moment. A listener resumes
with the last id it saw: :meth:`EventBus.replay` returns what it missed from a bounded
per-account buffer, or ``None`` when the id is unknown, from another bus lifetime, or older than
what the buffer still holds — then the listener must read the state from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

# ``seq`` steps per millisecond of the bus's clock (see the module's text).
SEQ_PER_MS = 1000


@dataclass(frozen=True, slots=True)
class Event:
    account_id: str
    generation_id: str
    kind: str  # "status" | "progress" | a terminal status ("completed", "failed", …)
    data: dict[str, Any] = field(default_factory=dict)
    sandbox: bool = False
    id: str = ""  # stamped by the bus on publish
    at: float = 0.0  # unix time of publication, stamped by the bus


class EventsLost(Exception):
    """The subscriber fell too far behind and events were dropped: resynchronise (replay from
    the last id seen, or read the current state)."""


def parse_id(event_id: str | None) -> tuple[int, int] | None:
    """``"<epoch>-<seq>"`` as a comparable pair, or None when it is not an event id."""
    if not event_id:
        return None
    epoch, sep, seq = event_id.strip().partition("-")
    if not sep or not epoch.isdigit() or not seq.isdigit() or len(event_id) > 40:
        return None
    return int(epoch), int(seq)


def next_seq(seq: int, epoch_ms: int, now_ms: int) -> int:
    """The ``seq`` of the next event: the clock now, or one more than ``seq`` if that is later."""
    return max(seq + 1, (now_ms - epoch_ms) * SEQ_PER_MS)


def id_time(event_id: str | None) -> float | None:
    """When the event ``event_id`` was published at the latest (unix seconds), or None when it
    is not an event id. Ids of a bus that counted events (before ``seq`` was a clock) give the
    bus's start: earlier than the event, which only makes a catch-up include more."""
    key = parse_id(event_id)
    if key is None:
        return None
    epoch, seq = key
    return (epoch + seq // SEQ_PER_MS + 1) / 1000


class Subscription(Protocol):
    async def get(self, wait_s: float | None = None) -> Event | None:
        """The next event, or None if none came within ``wait_s`` seconds. Raises
        :class:`EventsLost` once after events were dropped for this subscriber."""
        ...


class EventBus(Protocol):
    async def publish(self, event: Event) -> Event:
        """Stamp ``event`` with the next id, keep it for replay and fan it out; returns it."""
        ...

    def subscribe(self, account_id: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """Every event of the account published from now on, until the context exits."""
        ...

    async def cursor(self) -> str:
        """The id of the last event published (``<epoch>-0`` before the first)."""
        ...

    async def replay(self, account_id: str, after: str) -> list[Event] | None:
        """The account's events after id ``after``, oldest first; None when the bus cannot
        say (unknown or too old id): read the current state instead."""
        ...


class SubscriberQueue:
    """One subscriber's pending events. Bounded: a subscriber that does not keep up loses its
    pending events and is told so, rather than slowing the publisher down."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._events: deque[Event] = deque()
        self._ready = asyncio.Event()
        self._lost = False

    def put(self, event: Event) -> None:
        if len(self._events) >= self._size:
            self._events.clear()
            self._lost = True
        self._events.append(event)
        self._ready.set()

    def lose(self) -> None:
        """Events were missed upstream (the Redis bus lost its connection): drop what is
        pending and tell the subscriber to resynchronise."""
        self._events.clear()
        self._lost = True
        self._ready.set()

    async def get(self, wait_s: float | None = None) -> Event | None:
        if not self._events and not self._lost:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._ready.wait()
        if self._lost:
            self._lost = False
            raise EventsLost()
        return self._events.popleft() if self._events else None


class _Ring:
    def __init__(self, size: int, dropped_through: tuple[int, int]) -> None:
        self.events: deque[Event] = deque(maxlen=size)
        self.dropped_through = dropped_through  # every event of the account up to here is gone


class InProcessBus:
    """Fan-out to per-subscriber queues in this process, with a ring buffer of the last
    ``buffer_size`` events of each of the ``max_accounts`` most recently active accounts."""

    def __init__(
        self, *, buffer_size: int = 1000, queue_size: int = 1000, max_accounts: int = 10_000
    ) -> None:
        self._epoch = int(time.time() * 1000)
        self._seq = 0
        self._buffer_size = buffer_size
        self._queue_size = queue_size
        self._max_accounts = max_accounts
        self._subscribers: dict[str, set[SubscriberQueue]] = {}
        self._rings: OrderedDict[str, _Ring] = OrderedDict()
        # Events of accounts whose ring was evicted are forgotten up to this id.
        self._forgotten_through = (self._epoch, 0)

    async def publish(self, event: Event) -> Event:
        now = time.time()
        self._seq = next_seq(self._seq, self._epoch, int(now * 1000))
        stamped = replace(event, id=f"{self._epoch}-{self._seq}", at=now)
        self._ring(event.account_id).events.append(stamped)
        for queue in self._subscribers.get(event.account_id, ()):
            queue.put(stamped)
        return stamped

    def _ring(self, account_id: str) -> _Ring:
        ring = self._rings.get(account_id)
        if ring is None:
            ring = self._rings[account_id] = _Ring(self._buffer_size, self._forgotten_through)
            if len(self._rings) > self._max_accounts:
                _, evicted = self._rings.popitem(last=False)
                if evicted.events:
                    last = parse_id(evicted.events[-1].id)
                    assert last is not None
                    self._forgotten_through = max(self._forgotten_through, last)
        else:
            self._rings.move_to_end(account_id)
        if len(ring.events) == ring.events.maxlen:
            oldest = parse_id(ring.events[0].id)
            assert oldest is not None
            ring.dropped_through = oldest  # about to be pushed out by the append
        return ring

    @contextlib.asynccontextmanager
    async def subscribe(self, account_id: str) -> AsyncIterator[Subscription]:
        queue = SubscriberQueue(self._queue_size)
        self._subscribers.setdefault(account_id, set()).add(queue)
        try:
            yield queue
        finally:
            subscribers = self._subscribers.get(account_id)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[account_id]

    async def cursor(self) -> str:
        return f"{self._epoch}-{self._seq}"

    async def replay(self, account_id: str, after: str) -> list[Event] | None:
        position = parse_id(after)
        if position is None or position[0] != self._epoch or position[1] > self._seq:
            return None
        ring = self._rings.get(account_id)
        dropped = ring.dropped_through if ring is not None else self._forgotten_through
        if position < dropped:
            return None
        if ring is None:
            return []
        return [event for event in ring.events if _after(event, position)]

    def subscriber_count(self, account_id: str) -> int:
        return len(self._subscribers.get(account_id, ()))


def _after(event: Event, position: tuple[int, int]) -> bool:
    key = parse_id(event.id)
    return key is not None and key > position
