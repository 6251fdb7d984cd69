"""The account stream after a gap the bus cannot replay (docs/events.md, "Ids and resuming"): a
server restart, a resume older than the bus keeps, a Redis outage. The generations that ended
while the client was away arrive as final events, once each, before ``ready``; what the client
already had does not come again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediastudio.kit.events import InProcessBus, SubscriberQueue
from mediastudio.settings import Settings
from tests.conftest import auth, make_settings
from tests.deployment import DISTRIBUTED
from tests.live_server import LiveApi, Sse, read_sse, serve_live
from tests.redis_server import PrivateRedis

QUICK = {"prompt": "a lighthouse", "model": "fake/image", "width": 256, "height": 256}
FAILS = {**QUICK, "prompt": "boom [fail:provider_error]"}


async def create(live: LiveApi, key: str, body: dict[str, Any]) -> str:
    response = await live.client.post("/api/v1/generate/image", json=body, headers=auth(key))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def _events(response: httpx.Response) -> AsyncIterator[Sse]:
    async for item in read_sse(response):
        if item.event != ":":
            yield item


async def last_event_after_a_job(live: LiveApi, key: str) -> tuple[str, str]:
    """Follow the account stream until a job created after ``ready`` completes: the job and the
    id of that last event, as a client that then disconnects holds it."""
    async with live.client.stream("GET", "/api/v1/events", headers=auth(key)) as response:
        events = _events(response)
        async with asyncio.timeout(15):
            async for item in events:
                if item.event == "ready":
                    break
            job = await create(live, key, QUICK)
            async for item in events:
                if item.event == "completed" and item.data["generation_id"] == job:
                    assert item.id
                    return job, item.id
    raise AssertionError("the stream ended")


async def resume(live: LiveApi, key: str, last_event_id: str) -> list[Sse]:
    """Everything the account stream sends up to and including ``ready``."""
    headers = {**auth(key), "Last-Event-ID": last_event_id}
    got: list[Sse] = []
    async with live.client.stream("GET", "/api/v1/events", headers=headers) as response:
        assert response.status_code == 200
        async with asyncio.timeout(15):
            async for item in _events(response):
                got.append(item)
                if item.event == "ready":
                    return got
    raise AssertionError(f"no ready: {got}")


def endings(got: list[Sse]) -> list[tuple[str, str]]:
    return [(e.data["generation_id"], e.event) for e in got if e.event != "ready"]


@pytest.mark.databases
async def test_after_a_restart_the_jobs_that_ended_meanwhile_arrive_once_each(
    tmp_path: Path, database_url: str | None
) -> None:
    # On both databases: the catch-up's query compares completed_at with a moment.
    settings = make_settings(tmp_path / "data", database_url=database_url, events_heartbeat_s=0.3)
    async with serve_live(settings) as live:
        key = await live.key(await live.account())
        seen, last_id = await last_event_after_a_job(live, key)
        # Disconnected: three jobs end (one fails) while nobody listens, and the server stops.
        jobs = [await create(live, key, body) for body in (QUICK, FAILS, QUICK)]
        ended = [await live.wait(key, job) for job in jobs]
    async with serve_live(settings) as live:  # a new process
        got = await resume(live, key, last_id)
    assert sorted(body["status"] for body in ended) == ["completed", "completed", "failed"]
    if DISTRIBUTED:
        # The bus is Redis, which the restart of an API process does not touch: a true replay,
        # every event the client missed (queued, processing... and each job's final one, once).
        finals = [e for e in endings(got) if e[1] in ("completed", "failed", "cancelled")]
        assert sorted(finals) == sorted((body["id"], body["status"]) for body in ended)
        assert seen not in {generation for generation, _ in endings(got)}  # it had that one
        assert got[-1].data["data"] == {"resumed": True, "too_far_behind": False}
        return
    # The in-process bus (and every event it kept) went with the process: a new bus epoch. The
    # jobs that ended meanwhile come from the database, in the order they ended (two workers:
    # not always the order they were created), once each.
    ended.sort(key=lambda body: (datetime.fromisoformat(body["completed_at"]), body["id"]))
    assert endings(got) == [(body["id"], body["status"]) for body in ended]
    assert seen not in {generation for generation, _ in endings(got)}  # it had that one
    for event in got[:-1]:
        data = event.data["data"]
        assert data["snapshot"] is True and data["generation"]["id"] == event.data["generation_id"]
        assert data["generation"]["status"] == event.event
    assert got[-1].data["data"] == {"resumed": False, "too_far_behind": False}


async def _one_event_buffer(tmp_path: Path, **overrides: Any) -> Settings:
    # A ring of one event per account: any job pushes the client's last event out of it.
    return make_settings(
        tmp_path / "data", events_heartbeat_s=0.3, events_buffer_size=1, **overrides
    )


async def test_a_resume_older_than_the_buffer_gets_what_ended_since_and_the_active_state(
    tmp_path: Path,
) -> None:
    async with serve_live(await _one_event_buffer(tmp_path)) as live:
        account = await live.account()
        key, sandbox_key = await live.key(account), await live.key(account, sandbox=True)
        _, last_id = await last_event_after_a_job(live, key)
        ended = []
        for _ in range(2):  # one after the other: they end in this order
            ended.append(await create(live, key, QUICK))
            await live.wait(key, ended[-1])
        other_mode = await create(live, sandbox_key, {**QUICK, "model": "sandbox/image"})
        await live.wait(sandbox_key, other_mode)
        running = await create(live, key, {**QUICK, "prompt": "still going [slow:30]"})
        await live.wait(key, running, until=lambda body: body["status"] == "processing")
        got = await resume(live, key, last_id)
        # Twice from the same id (a client cut off before ready): the same catch-up again.
        again = await resume(live, key, last_id)
        cancelled = await live.client.post(
            f"/api/v1/generations/{running}/cancel", headers=auth(key)
        )
        assert cancelled.status_code == 200
    expected = [(job, "completed") for job in ended] + [(running, "status")]
    assert endings(got) == endings(again) == expected  # no sandbox job on a live key's stream
    assert [e.id for e in got[:2]] == [last_id, last_id]  # the resume point holds until ready
    assert got[-1].data["data"] == {"resumed": False, "too_far_behind": False}


async def test_too_many_ended_jobs_are_not_sent_and_ready_says_to_re_list(tmp_path: Path) -> None:
    settings = await _one_event_buffer(tmp_path, events_catch_up_limit=1)
    async with serve_live(settings) as live:
        key = await live.key(await live.account())
        _, last_id = await last_event_after_a_job(live, key)
        for job in [await create(live, key, QUICK) for _ in range(2)]:
            await live.wait(key, job)
        got = await resume(live, key, last_id)
    assert endings(got) == []
    assert got[-1].data["data"] == {"resumed": False, "too_far_behind": True}


async def test_a_job_that_ended_while_redis_was_down_arrives_after_it_is_back(
    tmp_path: Path,
) -> None:
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    try:
        settings = make_settings(
            tmp_path / "data",
            events_heartbeat_s=0.3,
            redis_url=redis.url(),
            rate_limit_storage="memory://",
        )
        async with serve_live(settings) as live:
            key = await live.key(await live.account())
            _, last_id = await last_event_after_a_job(live, key)
            redis.stop()  # its events are lost with it: nothing saved
            job = await create(live, key, QUICK)
            assert (await live.wait(key, job))["status"] == "completed"
            redis.start()
            got = await resume(live, key, last_id)
    finally:
        redis.stop()
    assert endings(got) == [(job, "completed")]
    assert got[0].data["data"]["generation"]["status"] == "completed"
    assert got[-1].data["data"] == {"resumed": False, "too_far_behind": False}


async def test_a_made_up_last_event_id_far_in_the_future_gets_the_active_state(
    tmp_path: Path,
) -> None:
    async with serve_live(make_settings(tmp_path / "data")) as live:
        key = await live.key(await live.account())
        await live.wait(key, await create(live, key, QUICK))
        got = await resume(live, key, f"{'9' * 30}-1")
    assert endings(got) == []
    assert got[-1].data["data"] == {"resumed": False, "too_far_behind": False}


@pytest.mark.embedded_only(
    reason="drops events on the in-process bus; Redis losing them is the redis_was_down test"
)
@pytest.mark.parametrize("limit", [200, 0])
async def test_an_open_stream_that_lost_events_gets_what_ended_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    settings = await _one_event_buffer(tmp_path, events_catch_up_limit=limit)
    async with serve_live(settings) as live:
        account = await live.account()
        key = await live.key(account)
        bus = live.platform.bus
        assert isinstance(bus, InProcessBus)
        async with live.client.stream("GET", "/api/v1/events", headers=auth(key)) as response:
            events = _events(response)
            async with asyncio.timeout(15):
                async for item in events:
                    if item.event == "ready":
                        break
                # The stream's queue misses a job's events (as when Redis drops them), then is
                # told it lost events: it resynchronises, and the bus cannot replay.
                with monkeypatch.context() as patch:
                    patch.setattr(SubscriberQueue, "put", lambda self, event: None)
                    job = await create(live, key, QUICK)
                    await live.wait(key, job)
                for queue in bus._subscribers[account]:
                    queue.lose()
                got = await anext(events)
    if limit:
        assert (got.event, got.data["generation_id"]) == ("completed", job)
        assert got.data["data"]["snapshot"] is True
    else:  # too many for one catch-up: a ready that says so, mid-stream
        assert got.event == "ready"
        assert got.data["data"] == {"resumed": False, "too_far_behind": True}
