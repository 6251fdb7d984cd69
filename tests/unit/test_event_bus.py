"""The in-process event bus (ids, fan-out, ring buffer, slow subscribers) and the publishers
that are not the runner: the sweeper."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from mediastudio.generations.models import Generation, Status
from mediastudio.kit.clock import utcnow
from mediastudio.kit.events import Event, EventsLost, InProcessBus, id_time, parse_id
from tests.conftest import Api, auth


def event(account: str = "acc_1", generation: str = "gen_1", kind: str = "progress") -> Event:
    return Event(account, generation, kind, {"status": "processing", "progress": 1})


async def test_ids_increase_and_each_account_hears_only_its_own_events() -> None:
    bus = InProcessBus()
    async with bus.subscribe("acc_1") as mine, bus.subscribe("acc_2") as theirs:
        first = await bus.publish(event())
        second = await bus.publish(event("acc_2"))
        third = await bus.publish(event())
        assert parse_id(first.id) < parse_id(second.id) < parse_id(third.id)  # type: ignore[operator]
        assert await bus.cursor() == third.id
        assert [await mine.get(0.1), await mine.get(0.1)] == [first, third]
        assert await mine.get(0.05) is None
        assert await theirs.get(0.1) == second and await theirs.get(0.05) is None
    assert bus.subscriber_count("acc_1") == 0


async def test_ids_say_when_they_were_published_and_increase_in_a_burst() -> None:
    bus = InProcessBus()
    burst = [await bus.publish(event()) for _ in range(3000)]  # more than 1000 a millisecond
    keys = [parse_id(e.id) for e in burst]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)  # type: ignore[type-var]
    first = burst[0]
    published = id_time(first.id)
    # The moment is never before the publication (a catch-up asks for what ended after it).
    assert published is not None and first.at <= published <= first.at + 1
    assert id_time("garbage") is None and id_time(await bus.cursor()) is not None


async def test_replay_returns_what_was_missed_or_none_when_it_cannot() -> None:
    bus = InProcessBus(buffer_size=3)
    start = await bus.cursor()
    published = [await bus.publish(event()) for _ in range(3)]
    assert await bus.replay("acc_1", start) == published
    assert await bus.replay("acc_1", published[0].id) == published[1:]
    assert await bus.replay("acc_1", published[-1].id) == []
    assert await bus.replay("acc_9", published[-1].id) == []  # never had an event
    newest = await bus.publish(event())  # pushes published[0] out of the ring
    assert await bus.replay("acc_1", start) is None  # published[0] was lost: cannot replay
    assert await bus.replay("acc_1", published[0].id) == [*published[1:], newest]
    for unknown in ("", "nonsense", "1-1", f"{start.split('-')[0]}-99999999999999", "12-x"):
        assert await bus.replay("acc_1", unknown) is None, unknown


async def test_an_evicted_account_cannot_replay_but_others_can() -> None:
    bus = InProcessBus(max_accounts=2)
    start = await bus.cursor()
    await bus.publish(event("acc_1"))
    await bus.publish(event("acc_2"))
    third = await bus.publish(event("acc_3"))  # evicts acc_1's ring
    assert await bus.replay("acc_1", start) is None
    assert await bus.replay("acc_3", start) == [third]


async def test_a_subscriber_that_falls_behind_is_told_it_lost_events() -> None:
    bus = InProcessBus(queue_size=2)
    async with bus.subscribe("acc_1") as slow:
        for _ in range(3):
            await bus.publish(event())
        with pytest.raises(EventsLost):
            await slow.get(0.1)
        assert await slow.get(0.1) is not None  # the newest event after the loss
        assert await slow.get(0.01) is None


async def test_a_subscriber_wakes_as_soon_as_an_event_is_published() -> None:
    bus = InProcessBus()
    async with bus.subscribe("acc_1") as subscription:
        waiting = asyncio.create_task(subscription.get(5))
        await asyncio.sleep(0.01)
        published = await bus.publish(event())
        assert await asyncio.wait_for(waiting, 1) == published


async def test_the_sweeper_announces_a_lost_job_put_back_in_the_queue(api: Api) -> None:
    account = await api.account()
    key = await api.key(account)
    body = {"prompt": "x [slow:5]", "model": "fake/image", "width": 256, "height": 256}
    created = await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))
    job = created.json()["id"]
    await api.wait(key, job, until=lambda b: b["status"] == "processing")
    platform = api.platform
    async with platform.bus.subscribe(account) as subscription:
        # As if its worker had died: the lease is over and another worker holds it.
        async with platform.db.write() as session:
            await session.execute(
                update(Generation)
                .where(Generation.id == job)
                .values(worker_id="elsewhere:1:x", lease_expires_at=utcnow() - timedelta(1))
            )
        await platform.sweeper.sweep()
        seen = []
        async with asyncio.timeout(5):
            while not seen or seen[-1].data["status"] != Status.QUEUED:
                got = await subscription.get(1)
                if got is not None and got.generation_id == job:
                    seen.append(got)
    assert seen[-1].kind == "status" and seen[-1].sandbox is False
    await api.client.post(f"/api/v1/generations/{job}/cancel", headers=auth(key))
