"""Live events for one listener (an SSE stream or a WebSocket): catch up, then follow the bus.

The order that loses nothing: subscribe to the bus first, note the bus's cursor, and only then
read the state (replay from the ring buffer, or the database). Every event published before the
cursor is reflected in what was read (events are published after their transaction commits);
every event after it is in the subscription. Events the listener already has (id at or below
what it was sent) are skipped, so nothing is sent twice from the two sources.

A resume (``Last-Event-ID``) replays what the bus still holds after that id; when it cannot (an
id from another process lifetime or bus epoch, or older than the buffer), the listener gets the
state from the database instead — the database is the truth: a listener to the whole account
first gets the final event of each generation that ended after the moment its last id says
(ids carry their publication time, kit.events.id_time), oldest first, then the active ones'
state. A listener too slow for its queue is resynchronised the same way from the last id it was
sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mediastudio.generations.events import STATUS, TERMINAL_KINDS, kind_of
from mediastudio.generations.models import Generation, Status
from mediastudio.generations.repository import Filters
from mediastudio.generations.service import GenerationService
from mediastudio.keys.principal import Principal
from mediastudio.kit.errors import NotFound
from mediastudio.kit.events import Event, EventBus, EventsLost, Subscription, id_time, parse_id

READY = "ready"
Render = Callable[[Generation], dict[str, Any]]


@dataclass(frozen=True)
class Outgoing:
    """One event as a listener receives it."""

    id: str
    type: str  # status | progress | completed | failed | cancelled | partially_completed | ready
    generation_id: str | None
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_KINDS

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "generation_id": self.generation_id,
            "data": self.data,
        }


@dataclass
class Listener:
    """The state of one listener: what it follows and what it was already sent."""

    principal: Principal
    subscription: Subscription
    generations: GenerationService
    render: Render
    only: set[str] | None = None  # the generation ids followed; None: all of the account's
    sent_through: tuple[int, int] = (0, 0)
    last_id: str = ""
    resumed: bool = False  # the last catch-up replayed missed events (not a snapshot)
    # The last catch-up could not send every generation that ended while the listener was away.
    too_far_behind: bool = False
    _progress: dict[str, int] = field(default_factory=dict)
    # Generations whose final event was sent, with their completed_at when known: a later
    # catch-up does not send the same ending again.
    _finished: dict[str, datetime | None] = field(default_factory=dict)

    # Catching up ------------------------------------------------------------------------------

    async def catch_up(self, bus: EventBus, last_event_id: str | None) -> list[Outgoing]:
        """What the listener missed since ``last_event_id`` (or, without one or when the bus
        cannot replay it, the current state), in order. Call after subscribing."""
        cursor = await bus.cursor()
        replayed = (
            await bus.replay(self.principal.account_id, last_event_id) if last_event_id else None
        )
        self.resumed = replayed is not None
        self.too_far_behind = False
        if replayed is None:
            return await self._snapshot(cursor, last_event_id)
        self._sent(cursor)
        if replayed:
            self._sent(replayed[-1].id)
        out = [o for e in replayed if (o := await self._accept(e, check_sent=False)) is not None]
        if self.only and not any(o.terminal for o in out):
            # A listener to one generation that already finished (e.g. it saw the final event
            # and reconnected anyway) gets the final state again rather than silence.
            for generation_id in self.only:
                generation = await self._read(generation_id)
                if generation is not None and Status(generation.status).is_terminal:
                    out.append(self._state(cursor, generation))
        return out

    async def _snapshot(self, cursor: str, last_event_id: str | None) -> list[Outgoing]:
        self._sent(cursor)
        if self.only is not None:
            found = [await self._read(generation_id) for generation_id in sorted(self.only)]
            return [self._state(cursor, g) for g in found if g is not None]
        ended = await self._ended_since(last_event_id) if last_event_id else []
        return ended + [self._state(cursor, g) for g in await self._active()]

    async def _ended_since(self, last_event_id: str) -> list[Outgoing]:
        """The final event of each generation that ended after ``last_event_id`` was published,
        oldest first; none, and ``too_far_behind``, when more than the cap ended. They carry
        ``last_event_id`` as their id: a client cut off before ``ready`` resumes from the same
        point and gets them again rather than skip the rest."""
        published = id_time(last_event_id)
        if published is None:
            return []  # not an id of ours: a first connection
        try:
            since = datetime.fromtimestamp(published, UTC)
        except (OverflowError, ValueError, OSError):
            return []  # a made-up id far in the future: nothing ended after it
        limit = self.generations.settings.events_catch_up_limit
        ended = await self.generations.finished_since(self.principal, since, limit=limit + 1)
        if len(ended) > limit:
            self.too_far_behind = True
            return []
        # A listener resynchronised while open (it fell behind) already sent some of them.
        return [
            self._state(last_event_id, generation)
            for generation in ended
            if self._finished.get(generation.id) != generation.completed_at
        ]

    async def follow(self, generation_id: str, bus: EventBus) -> Outgoing:
        """Start following one more generation (a WebSocket ``subscribe``): its current state."""
        # Followed before the read, so an event that lands meanwhile is not filtered out (the
        # listener drops a repeated final state).
        previous = None if self.only is None else set(self.only)
        self.only = {*(self.only or ()), generation_id}
        self._finished.pop(generation_id, None)
        cursor = await bus.cursor()
        generation = await self._read(generation_id)
        if generation is None:
            self.only = previous
            raise NotFound(f"No generation {generation_id!r}.")
        return self._state(cursor, generation)

    def unfollow(self, generation_id: str | None) -> None:
        """Stop following one generation; with None, follow the whole account again."""
        if generation_id is None:
            self.only = None
        elif self.only is not None:
            self.only.discard(generation_id)

    # Following --------------------------------------------------------------------------------

    async def next(self, bus: EventBus, wait_s: float) -> list[Outgoing] | None:
        """The next events for this listener, or None when nothing came within ``wait_s``."""
        try:
            event = await self.subscription.get(wait_s)
        except EventsLost:
            caught_up = await self.catch_up(bus, self.last_id or None)
            if self.too_far_behind:
                caught_up.append(ready(self))  # what was left out must be re-listed: say so
            return caught_up
        if event is None:
            return None
        accepted = await self._accept(event, check_sent=True)
        return [accepted] if accepted is not None else []

    async def _accept(self, event: Event, *, check_sent: bool) -> Outgoing | None:
        key = parse_id(event.id)
        if key is None or (check_sent and key <= self.sent_through):
            return None
        if event.sandbox != self.principal.sandbox:
            return None  # live and sandbox modes never see each other
        if self.only is not None and event.generation_id not in self.only:
            return None
        self._sent(event.id)
        gid = event.generation_id
        status = event.data.get("status")
        progress = int(event.data.get("progress", 0))
        if gid in self._finished and not (event.kind == STATUS and status == Status.QUEUED):
            return None  # a late event after the final one (only a retry reopens a job)
        if event.kind == "progress" and progress <= self._progress.get(gid, -1):
            return None  # stale or repeated progress
        self._progress[gid] = progress
        data = dict(event.data)
        if event.kind in TERMINAL_KINDS:
            generation = await self._read(gid)
            self._finished[gid] = generation.completed_at if generation is not None else None
            data["generation"] = self.render(generation) if generation is not None else None
        else:
            self._finished.pop(gid, None)
        return Outgoing(event.id, event.kind, gid, data)

    # Helpers ----------------------------------------------------------------------------------

    def _sent(self, event_id: str) -> None:
        key = parse_id(event_id)
        if key is not None and key > self.sent_through:
            self.sent_through, self.last_id = key, event_id

    def _state(self, cursor: str, generation: Generation) -> Outgoing:
        """A generation's current state as an event: ``status`` or its final type."""
        status = Status(generation.status)
        self._progress[generation.id] = generation.progress
        if status.is_terminal:
            self._finished[generation.id] = generation.completed_at
        data = {
            "status": status.value,
            "progress": generation.progress,
            "generation": self.render(generation),
            "snapshot": True,
        }
        return Outgoing(cursor, kind_of(status), generation.id, data)

    async def _read(self, generation_id: str) -> Generation | None:
        try:
            return await self.generations.get(self.principal, generation_id)
        except NotFound:
            return None

    async def _active(self) -> list[Generation]:
        limit = self.generations.settings.events_snapshot_limit
        found: list[Generation] = []
        for status in (Status.PROCESSING, Status.QUEUED):
            if len(found) >= limit:
                break
            page = await self.generations.list(
                self.principal,
                Filters(status=status.value),
                limit=min(100, limit - len(found)),
                offset=0,
                starting_after=None,
            )
            found += page.items
        return sorted(found, key=lambda g: g.id)


@contextlib.asynccontextmanager
async def listening(
    bus: EventBus,
    generations: GenerationService,
    principal: Principal,
    render: Render,
    only: set[str] | None = None,
) -> AsyncIterator[Listener]:
    """A listener subscribed to the principal's account for as long as the context lasts."""
    async with bus.subscribe(principal.account_id) as subscription:
        yield Listener(principal, subscription, generations, render, only=only)


def ready(listener: Listener) -> Outgoing:
    """The marker sent once a listener is caught up: ``resumed`` says whether it got the events
    it missed (true) or the state from the database instead (false); ``too_far_behind`` that
    more generations ended meanwhile than a catch-up sends (re-list them)."""
    data = {"resumed": listener.resumed, "too_far_behind": listener.too_far_behind}
    return Outgoing(listener.last_id, READY, None, data)


@dataclass(frozen=True)
class AccessCheck:
    """How a long-lived stream keeps checking that its key may still read: ``check`` raises the
    refusal (revoked, expired, scope or IP allowlist changed), run every ``every_s`` seconds."""

    check: Callable[[], Awaitable[None]]
    every_s: float


async def stream(
    listener: Listener,
    bus: EventBus,
    last_event_id: str | None,
    *,
    heartbeat_s: float,
    announce_ready: bool,
    end_after_terminal: bool,
    access: AccessCheck | None = None,
) -> AsyncIterator[Outgoing | None]:
    """Everything one listener gets, in order: what it missed (or the current state), a
    ``ready`` marker when ``announce_ready``, then live events; None whenever ``heartbeat_s``
    passed without anything sent (time for a keep-alive). A listener to one generation ends
    after that generation's final event when ``end_after_terminal``; otherwise it never ends by
    itself. With ``access``, the key is checked again on its schedule and the refusal raised
    (a MediaStudioError), so a revoked key stops receiving within ``access.every_s``."""
    single = end_after_terminal
    for out in await listener.catch_up(bus, last_event_id):
        yield out
        if single and out.terminal:
            return
    if announce_ready:
        yield ready(listener)
    loop = asyncio.get_running_loop()
    quiet_since = checked_at = loop.time()
    while True:
        if access is not None and loop.time() - checked_at >= access.every_s:
            await access.check()
            checked_at = loop.time()
        left = heartbeat_s - (loop.time() - quiet_since)
        if access is not None:
            left = min(left, access.every_s - (loop.time() - checked_at))
        batch = await listener.next(bus, max(left, 0.0)) if left > 0 else None
        if batch is None:
            if loop.time() - quiet_since >= heartbeat_s:
                yield None
                quiet_since = loop.time()
            continue
        for out in batch:
            yield out
            quiet_since = loop.time()
            if single and out.terminal:
                return
