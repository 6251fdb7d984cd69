"""The Redis event bus against the development Redis: two bus objects on one key prefix stand
for two processes of one deployment (docs/events.md, "Several processes")."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from mediastudio.kit.events import Event, EventsLost, id_time, parse_id
from mediastudio.kit.redis_events import RedisBus
from mediastudio.platform import event_bus
from tests.conftest import make_settings
from tests.redis_server import REDIS_URL, count_prefixed, unique_prefix


@pytest.fixture
def prefix() -> Iterator[str]:
    yield from unique_prefix()


@pytest.fixture
async def buses(prefix: str) -> AsyncIterator[list[RedisBus]]:
    """Two buses on one prefix, as two API processes of one deployment have."""
    made = [RedisBus(REDIS_URL, key_prefix=prefix, buffer_size=20) for _ in range(2)]
    try:
        yield made
    finally:
        for bus in made:
            await bus.aclose()


def event(account: str = "acc_1", generation: str = "gen_1", progress: int = 1) -> Event:
    return Event(account, generation, "progress", {"status": "processing", "progress": progress})


def key(event_id: str) -> tuple[int, int]:
    parsed = parse_id(event_id)
    assert parsed is not None, event_id
    return parsed


async def test_an_event_published_by_one_process_reaches_the_listeners_of_another(
    buses: list[RedisBus],
) -> None:
    a, b = buses
    async with b.subscribe("acc_1") as mine, b.subscribe("acc_2") as theirs:
        first = await a.publish(event())
        second = await b.publish(event("acc_2"))
        third = await a.publish(event(progress=2))
        assert key(first.id) < key(second.id) < key(third.id)  # one counter for every process
        published = id_time(third.id)  # the id says when (a clock, as the in-process bus's)
        assert published is not None and third.at <= published <= third.at + 1
        assert await a.cursor() == await b.cursor() == third.id
        assert [await mine.get(5), await mine.get(5)] == [first, third]
        assert await mine.get(0.05) is None
        assert await theirs.get(5) == second and await theirs.get(0.05) is None
    assert b.subscriber_count("acc_1") == 0


async def test_replay_from_any_process_returns_exactly_what_was_missed(
    buses: list[RedisBus],
) -> None:
    a, b = buses
    await a.publish(event("acc_0"))  # starts the epoch
    start = await a.cursor()
    published = [await a.publish(event(progress=n)) for n in range(3)]
    await a.publish(event("acc_2"))  # another account's event: not replayed to acc_1
    assert await b.replay("acc_1", start) == published
    assert await b.replay("acc_1", published[0].id) == published[1:]
    assert await b.replay("acc_1", published[-1].id) == []
    assert await b.replay("acc_9", published[-1].id) == []  # never had an event
    epoch = start.split("-")[0]
    future = f"{epoch}-99999999999999"
    for unknown in ("", "nonsense", "1-1", future, "12-x", f"{int(epoch) - 1}-1"):
        assert await b.replay("acc_1", unknown) is None, unknown


async def test_events_trimmed_away_cannot_be_replayed(buses: list[RedisBus]) -> None:
    a, _ = buses
    await a.publish(event("acc_0"))
    start = await a.cursor()
    # MAXLEN ~ trims whole stream nodes (100 entries), so it takes a few hundred events.
    published = [await a.publish(event(progress=n)) for n in range(250)]
    assert await a.replay("acc_1", start) is None  # the oldest are gone: read the state instead
    recent = published[-5:]
    assert await a.replay("acc_1", published[-6].id) == recent


async def test_a_lost_publish_starts_a_new_epoch_and_listeners_resynchronise(
    buses: list[RedisBus], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = buses
    before = await a.publish(event())
    working = a._publish

    calls: list[int] = []

    async def failing(**_: Any) -> Any:
        calls.append(1)
        raise ConnectionError("Redis went away")

    async with b.subscribe("acc_1") as listener:
        assert await listener.get(0.2) is None  # the reader follows acc_1 from now on
        monkeypatch.setattr(a, "_publish", failing)
        with caplog.at_level(logging.WARNING, "mediastudio.events"):
            lost = [await a.publish(event(progress=n)) for n in range(3)]  # no exception
        assert [e.id for e in lost] == ["", "", ""]
        assert len(calls) == 1  # then dropped at once for a while: no timeout per event
        assert sum("publishing to Redis" in r.getMessage() for r in caplog.records) == 1
        monkeypatch.setattr(a, "_publish", working)
        monkeypatch.setattr(a, "_publish_retry_at", 0.0)  # as if PUBLISH_RETRY_S had passed
        after = await a.publish(event(progress=9))
        assert key(after.id)[0] > key(before.id)[0]  # a new epoch
        with pytest.raises(EventsLost):  # the reader saw the epoch change
            await listener.get(5)
        assert await listener.get(5) == after
    # A client that resumes from before the loss gets the current state, not a replay with a
    # hole in it.
    assert await b.replay("acc_1", before.id) is None
    assert await b.replay("acc_1", after.id) == []


async def test_an_unreachable_redis_never_fails_a_publisher(prefix: str) -> None:
    bus = RedisBus("redis://127.0.0.1:1/0", key_prefix=prefix)
    try:
        published = await bus.publish(event())
        assert published.id == "" and published.data == event().data
        assert await bus.cursor() == "0-0"
        assert await bus.replay("acc_1", "1-1") is None
        with pytest.raises(ConnectionError, match="not reachable"):
            await bus.ensure_reachable()
    finally:
        await bus.aclose()


async def test_settings_choose_the_bus_and_its_keys(prefix: str, tmp_path: Any) -> None:
    memory = event_bus(make_settings(tmp_path))
    assert not isinstance(memory, RedisBus)
    settings = make_settings(tmp_path, redis_url=REDIS_URL, redis_key_prefix=prefix)
    assert settings.resolved_rate_limit_storage == REDIS_URL  # the rate limits follow
    bus = event_bus(settings)
    assert isinstance(bus, RedisBus)
    try:
        await bus.publish(event())
        assert count_prefixed(prefix) == 2  # the counter and the account's stream
    finally:
        await bus.aclose()
    kept = make_settings(tmp_path, redis_url=REDIS_URL, rate_limit_storage="memory://")
    assert kept.resolved_rate_limit_storage == "memory://"
    with pytest.raises(ValueError, match="MEDIASTUDIO_REDIS_URL"):
        event_bus(make_settings(tmp_path, event_bus="redis"))


async def test_a_reader_whose_connection_is_cut_reconnects_and_delivers(
    buses: list[RedisBus],
) -> None:
    import redis.asyncio

    a, b = buses
    async with b.subscribe("acc_1") as listener:
        assert await listener.get(0.2) is None  # b's reader is blocked in XREAD now
        async with redis.asyncio.Redis.from_url(REDIS_URL) as admin:
            clients = await admin.client_list()
            (reader,) = [c for c in clients if c["name"] == f"mediastudio-events-{b._process}"]
            await admin.client_kill_filter(_id=reader["id"])
        published = await a.publish(event())
        received: list[Any] = []
        for _ in range(2):  # an EventsLost first when the reader noticed the cut
            try:
                received.append(await listener.get(10))
            except EventsLost:
                received.append("lost")
            if received[-1] == published:
                break
        assert received[-1] == published, received


async def test_an_unreadable_entry_is_skipped_and_the_reader_goes_on(
    buses: list[RedisBus], prefix: str
) -> None:
    import redis.asyncio

    a, b = buses
    async with b.subscribe("acc_1") as listener:
        assert await listener.get(0.2) is None
        async with redis.asyncio.Redis.from_url(REDIS_URL) as admin:
            await admin.xadd(f"{prefix}:events:a:acc_1", {"e": "not json"})
        published = await a.publish(event())
        assert await listener.get(5) == published
