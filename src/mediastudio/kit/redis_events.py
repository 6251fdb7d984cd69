"""The event bus on Redis Streams: every API process and worker shares one bus.

Layout (every key under the deployment's prefix, docs/deployment.md#redis):

- ``<prefix>:events:state``: a hash ``{epoch, seq}``, the bus's clock;
- ``<prefix>:events:a:<account>``: one stream per account, trimmed exactly (``MAXLEN``, not
  ``~``) to the replay buffer (``events_buffer_size``), so a resume replays from Redis exactly
  when it would from the in-process bus's ring;
- ``<prefix>:events:epochs``: a short stream of the epochs started, which every reader follows;
- ``<prefix>:events:wake:<process>``: a one-entry stream a process writes to itself to wake its
  reader when it starts following a new account.

Ids keep the ``<epoch>-<seq>`` format of :class:`~mediastudio.kit.events.InProcessBus`, so
clients and the listener logic see no difference: a Lua script takes the next ``seq`` of the
deployment-wide counter (a clock, :func:`~mediastudio.kit.events.next_seq`, on the publishers'
clocks) and XADDs the event with that id, atomically, so ids increase across
every account and process, and :meth:`RedisBus.cursor` is one counter read. Being valid stream
ids, they are what XREAD and XRANGE resume from.

Fan-out: one reader task per process, a blocking XREAD over the streams of the accounts that
have a listener in this process, handing events to per-listener bounded queues (the in-process
bus's). One connection per process instead of one per listener (an SSE client each), and the
number of Redis round trips does not grow with the listeners of one account.

Failure: publishing is best effort. A publish that fails is logged once per outage and dropped
(job execution goes on: the database is the truth); the first publish after the outage starts a
new epoch, so every ``Last-Event-ID`` from before gets the current state rather than a replay
with a hole, and every reader, which follows the epochs stream, resynchronises its listeners. A
reader that loses Redis retries with a backoff and resynchronises its listeners once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from mediastudio.kit.events import SEQ_PER_MS, Event, SubscriberQueue, Subscription, parse_id

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("mediastudio.events")

# Seconds a publish, cursor or replay may take before it counts as failed: a hung Redis must
# not hang job execution behind it.
COMMAND_TIMEOUT_S = 2.0
# After a failed publish, publishes are dropped at once for this long (then one is tried
# again): a job that publishes during an outage is not slowed by a timeout per event.
PUBLISH_RETRY_S = 1.0
# The reader's blocking XREAD; its socket allows a margin on top.
BLOCK_MS = 5000
READ_COUNT = 500
MIN_REDIS_MAJOR = 7
RETRY_S = (0.1, 0.5, 1.0, 2.0, 5.0)

# KEYS: state, stream, epochs. ARGV: now (ms: the candidate epoch, and the seq clock), maxlen,
# payload, renew (0/1), SEQ_PER_MS. The seq is kit.events.next_seq: a clock, so ids say when.
_PUBLISH = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch or ARGV[4] == '1' then
  local candidate = tonumber(ARGV[1])
  if epoch and tonumber(epoch) >= candidate then candidate = tonumber(epoch) + 1 end
  epoch = string.format('%d', candidate)
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
  if ARGV[4] == '1' then redis.call('XADD', KEYS[3], 'MAXLEN', '~', 10, '*', 'epoch', epoch) end
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local clock = (tonumber(ARGV[1]) - tonumber(epoch)) * tonumber(ARGV[5])
if clock > seq then
  seq = clock
  redis.call('HSET', KEYS[1], 'seq', string.format('%d', seq))
end
local id = epoch .. '-' .. string.format('%d', seq)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], id, 'e', ARGV[3])
return id
"""

# KEYS: state, stream. ARGV: after (an id), count.
# → {epoch, seq, trimmed (1 when entries were trimmed away), first id kept, entries}
# Trimming removes the oldest entries, so a position before the first entry kept may have lost
# events after it (XINFO's max-deleted-entry-id counts XDEL only, not MAXLEN trimming).
_REPLAY = """
local state = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
if not state[1] then return {false, false, 0, false, {}} end
if redis.call('EXISTS', KEYS[2]) == 0 then return {state[1], state[2], 0, false, {}} end
local info = redis.call('XINFO', 'STREAM', KEYS[2])
local length, added, first = 0, 0, false
for i = 1, #info, 2 do
  if info[i] == 'length' then length = info[i + 1] end
  if info[i] == 'entries-added' then added = info[i + 1] end
  if info[i] == 'first-entry' and info[i + 1] then first = info[i + 1][1] end
end
local trimmed = 0
if added > length then trimmed = 1 end
local entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
return {state[1], state[2], trimmed, first, entries}
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def encode(event: Event) -> str:
    body = {
        "a": event.account_id,
        "g": event.generation_id,
        "k": event.kind,
        "d": event.data,
        "s": event.sandbox,
        "t": event.at,
    }
    return json.dumps(body, separators=(",", ":"))


def decode(event_id: Any, fields: dict[Any, Any] | list[Any]) -> Event:
    """An event from a stream entry (fields as XREAD gives them, or as a script's flat list)."""
    if isinstance(fields, list):
        fields = dict(zip(fields[::2], fields[1::2], strict=True))
    body = json.loads(fields.get(b"e") or fields.get("e") or "{}")
    return Event(
        body["a"], body["g"], body["k"], body["d"], body["s"], id=_text(event_id), at=body["t"]
    )


class RedisBus:
    """:class:`~mediastudio.kit.events.EventBus` on Redis Streams (see the module's text)."""

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str,
        buffer_size: int = 1000,
        queue_size: int = 500,
    ) -> None:
        from redis.asyncio import Redis  # the ``redis`` extra: only a Redis deployment needs it

        self.url = url
        self._process = uuid.uuid4().hex
        self._prefix = key_prefix
        self._buffer_size = buffer_size
        self._queue_size = queue_size
        self._client: Redis = Redis.from_url(
            url, socket_timeout=COMMAND_TIMEOUT_S, socket_connect_timeout=COMMAND_TIMEOUT_S
        )
        # Its own connection: a blocking XREAD holds it for up to BLOCK_MS.
        self._reader_client: Redis = Redis.from_url(
            url,
            socket_timeout=BLOCK_MS / 1000 + 5,
            socket_connect_timeout=COMMAND_TIMEOUT_S,
            single_connection_client=True,
            client_name=f"mediastudio-events-{self._process}",
        )
        self._publish = self._client.register_script(_PUBLISH)
        self._replay = self._client.register_script(_REPLAY)
        self._state_key = f"{key_prefix}:events:state"
        self._epochs_key = f"{key_prefix}:events:epochs"
        self._epochs_position: str | None = None
        self._wake_key = f"{key_prefix}:events:wake:{self._process}"
        self._subscribers: dict[str, set[SubscriberQueue]] = {}
        # Per followed account: the last id read from its stream (None: not known yet).
        self._positions: dict[str, str | None] = {}
        self._wake_position = "0-0"
        self._reader: asyncio.Task[None] | None = None
        self._publish_down = False
        self._publish_retry_at = 0.0
        self._renew = False  # a publish was lost: the next one starts a new epoch
        self._read_down = False

    def _stream(self, account_id: str) -> str:
        return f"{self._prefix}:events:a:{account_id}"

    async def ensure_reachable(self) -> None:
        """Raise ConnectionError when Redis does not answer (at start-up: a wrong URL stops
        the server rather than every live event silently disappearing)."""
        try:
            server = await self._client.info("server")
        except Exception as exc:  # redis' errors, OSError, timeouts
            raise ConnectionError(
                f"Event bus Redis {redacted(self.url)} is not reachable ({exc!r}); "
                "check MEDIASTUDIO_REDIS_URL."
            ) from exc
        version = str(server.get("redis_version", "0"))
        if int(version.split(".")[0]) < MIN_REDIS_MAJOR:
            # XINFO STREAM's entries-added (how replay knows that events were trimmed away).
            raise ConnectionError(
                f"Event bus Redis {redacted(self.url)} is version {version}; the event bus "
                f"needs Redis {MIN_REDIS_MAJOR}.0 or later."
            )

    # Publishing -------------------------------------------------------------------------------

    async def publish(self, event: Event) -> Event:
        stamped = Event(
            event.account_id, event.generation_id, event.kind, event.data, event.sandbox,
            at=time.time(),
        )  # fmt: skip
        renew = self._renew
        if self._publish_down and time.monotonic() < self._publish_retry_at:
            return stamped
        try:
            event_id = await self._publish(
                keys=[self._state_key, self._stream(event.account_id), self._epochs_key],
                args=[
                    int(time.time() * 1000),
                    self._buffer_size,
                    encode(stamped),
                    int(renew),
                    SEQ_PER_MS,
                ],
            )
        except Exception as exc:  # best effort: never let the bus fail a job
            self._renew = True
            self._publish_retry_at = time.monotonic() + PUBLISH_RETRY_S
            if not self._publish_down:
                self._publish_down = True
                logger.warning(
                    "event bus: publishing to Redis %s failed (%r): live events are dropped "
                    "until it answers again",
                    redacted(self.url),
                    exc,
                )
            return stamped
        if renew:
            self._renew = False
        if self._publish_down:
            self._publish_down = False
            logger.warning("event bus: Redis %s answers again", redacted(self.url))
        return Event(
            stamped.account_id, stamped.generation_id, stamped.kind, stamped.data,
            stamped.sandbox, id=_text(event_id), at=stamped.at,
        )  # fmt: skip

    # Reading ----------------------------------------------------------------------------------

    async def cursor(self) -> str:
        return await self._cursor() or "0-0"

    async def _cursor(self) -> str | None:
        """The counter now (``0-0`` before the first event), None when Redis fails."""
        try:
            epoch, seq = await self._client.hmget(self._state_key, ["epoch", "seq"])
        except Exception as exc:
            logger.info("event bus: cursor unavailable (%r)", exc)
            return None
        if epoch is None:
            return "0-0"
        return f"{_text(epoch)}-{_text(seq or 0)}"

    async def replay(self, account_id: str, after: str) -> list[Event] | None:
        position = parse_id(after)
        if position is None:
            return None
        try:
            epoch, seq, trimmed, first, entries = await self._replay(
                keys=[self._state_key, self._stream(account_id)],
                args=[f"{position[0]}-{position[1]}", self._buffer_size],
            )
        except Exception as exc:
            logger.info("event bus: replay unavailable (%r)", exc)
            return None
        if epoch is None or position[0] != int(epoch) or position[1] > int(seq):
            return None  # another epoch (a lost publish, a flushed Redis) or a made-up id
        kept_from = parse_id(_text(first)) if first else None
        if trimmed and (kept_from is None or position < kept_from):
            return None  # trimmed away: what was missed may no longer all be there
        return [decode(entry_id, fields) for entry_id, fields in entries]

    @contextlib.asynccontextmanager
    async def subscribe(self, account_id: str) -> AsyncIterator[Subscription]:
        queue = SubscriberQueue(self._queue_size)
        subscribers = self._subscribers.setdefault(account_id, set())
        subscribers.add(queue)
        try:
            # Where the reader starts for this account: at most the counter now, so every
            # event after the listener's cursor (read after this) reaches the queue.
            now = await self._cursor()
            if account_id not in self._positions:
                self._positions[account_id] = now  # None: the reader resolves it when it can
                self._ensure_reader()
                await self._wake()
            elif now is not None:
                known = self._positions[account_id]
                if known is not None and _key(now) < _key(known):
                    self._positions[account_id] = now
            yield queue
        finally:
            remaining = self._subscribers.get(account_id)
            if remaining is not None:
                remaining.discard(queue)
                if not remaining:
                    del self._subscribers[account_id]
                    self._positions.pop(account_id, None)

    def subscriber_count(self, account_id: str) -> int:
        return len(self._subscribers.get(account_id, ()))

    async def _wake(self) -> None:
        with contextlib.suppress(Exception):  # the reader picks the account up within BLOCK_MS
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.xadd(self._wake_key, {"w": "1"}, maxlen=1)
                pipe.expire(self._wake_key, 3600)
                await pipe.execute()

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_loop(), name="event-bus-reader")

    async def _read_loop(self) -> None:
        failures = 0
        while True:  # until aclose; with no account to follow it waits on its wake stream
            try:
                if (
                    self._read_down
                    or self._epochs_position is None
                    or None in self._positions.values()
                ):
                    await self._resolve_positions()
                streams: dict[Any, Any] = {
                    self._wake_key: self._wake_position,
                    self._epochs_key: self._epochs_position,
                }
                accounts = {self._stream(a): a for a in self._positions}
                streams |= {self._stream(a): p for a, p in self._positions.items()}
                answer: Any = await self._reader_client.xread(
                    streams, count=READ_COUNT, block=BLOCK_MS
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._read_down:
                    self._read_down = True
                    logger.warning(
                        "event bus: reading from Redis %s failed (%r): live listeners wait "
                        "until it answers again",
                        redacted(self.url),
                        exc,
                    )
                await asyncio.sleep(RETRY_S[min(failures, len(RETRY_S) - 1)])
                failures += 1
                continue
            failures = 0
            for stream, entries in answer or ():
                name = _text(stream)
                if name == self._wake_key:
                    self._wake_position = _text(entries[-1][0])
                    continue
                if name == self._epochs_key:
                    # A new epoch: some publish was lost; every listener resynchronises.
                    self._epochs_position = _text(entries[-1][0])
                    self._lose_all()
                    continue
                account_id = accounts.get(name)
                if account_id is None or account_id not in self._positions:
                    continue
                self._fan_out(account_id, entries)

    async def _resolve_positions(self) -> None:
        """After an outage (or a subscribe that could not read the counter): start the
        accounts whose position is unknown at the counter now, and resynchronise every
        listener, which may have missed events meanwhile."""
        now = await self._cursor()
        if now is None:
            raise ConnectionError("the counter cannot be read")
        if self._epochs_position is None:
            last = await self._client.xrevrange(self._epochs_key, count=1)
            self._epochs_position = _text(last[0][0]) if last else "0-0"
        for account_id, position in list(self._positions.items()):
            if position is None:
                self._positions[account_id] = now
        if self._read_down:
            self._read_down = False
            logger.warning("event bus: reading from Redis %s again", redacted(self.url))
            self._lose_all()

    def _fan_out(self, account_id: str, entries: list[Any]) -> None:
        for entry_id, fields in entries:
            try:
                event = decode(entry_id, fields)
            except (ValueError, KeyError, TypeError):  # not ours: never let it stop the reader
                logger.warning("event bus: skipped an unreadable entry %r", entry_id)
                continue
            for queue in self._subscribers.get(account_id, ()):
                queue.put(event)
        self._positions[account_id] = _text(entries[-1][0])

    def _lose_all(self) -> None:
        for queues in self._subscribers.values():
            for queue in queues:
                queue.lose()

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        with contextlib.suppress(Exception):
            await self._client.delete(self._wake_key)
        await self._reader_client.aclose()
        await self._client.aclose()


def _key(event_id: str) -> tuple[int, int]:
    return parse_id(event_id) or (0, 0)


def redacted(url: str) -> str:
    """The URL without its password, for logs and errors."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"
