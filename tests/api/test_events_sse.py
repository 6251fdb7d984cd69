"""Server-Sent Events over a real socket: one generation's stream and the account's stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mediastudio.kit.events import parse_id
from tests.conftest import auth, make_settings
from tests.live_server import LiveApi, collect, read_sse, serve_live

SLOW = {"prompt": "a lighthouse [slow:1.6]", "model": "fake/image", "width": 256, "height": 256}
QUICK = {"prompt": "a lighthouse", "model": "fake/image", "width": 256, "height": 256}


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveApi]:
    settings = make_settings(tmp_path / "data", events_heartbeat_s=0.3)
    async with serve_live(settings) as api:
        yield api


async def create(live: LiveApi, key: str, body: dict[str, Any]) -> str:
    response = await live.client.post("/api/v1/generate/image", json=body, headers=auth(key))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def stream(live: LiveApi, key: str, path: str, **headers: str) -> Any:
    return live.client.stream("GET", path, headers={**auth(key), **headers})


def ids_increase(events: list[Any]) -> bool:
    keys = [parse_id(e.id) for e in events]
    return all(k is not None for k in keys) and keys == sorted(keys)  # type: ignore[type-var]


async def test_a_client_follows_a_job_from_its_state_through_progress_to_completion(
    live: LiveApi,
) -> None:
    key = await live.key(await live.account())
    # Three seconds of waiting: the worker saves progress every half second, and on the
    # distributed deployment it runs in another process, so a shorter job may show only one
    # step between the snapshot and the end on a busy machine.
    job = await create(live, key, {**SLOW, "prompt": "a lighthouse [slow:3]"})
    async with stream(live, key, f"/api/v1/generations/{job}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = await collect(response)  # returns only because the server ends the stream

    first, last = events[0], events[-1]
    assert first.event == "status" and first.data["data"]["snapshot"] is True
    assert first.data["data"]["generation"]["id"] == job
    progress = [e.data["data"]["progress"] for e in events if e.event == "progress"]
    assert len(progress) >= 2 and progress == sorted(progress) and progress[-1] < 100
    assert any(e.event == "status" and e.data["data"]["status"] == "processing" for e in events)
    assert last.event == "completed" and [e.event for e in events].count("completed") == 1
    final = last.data["data"]["generation"]
    assert final["status"] == "completed" and final["progress"] == 100
    assert final["output_url"] and final["output_url"] == final["outputs"][0]["url"]
    assert last.data["generation_id"] == job and last.data["id"] == last.id
    assert ids_increase(events)
    image = await live.client.get(final["output_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/webp"


async def test_a_client_that_connects_after_the_end_gets_the_final_state_and_the_stream_ends(
    live: LiveApi,
) -> None:
    key = await live.key(await live.account())
    job = await create(live, key, {**QUICK, "prompt": "boom [fail:provider_error]"})
    await live.wait(key, job)
    async with stream(live, key, f"/api/v1/generations/{job}/events") as response:
        events = await collect(response, limit=5)
    assert [e.event for e in events] == ["failed"]
    data = events[0].data["data"]
    assert data["status"] == "failed" and data["generation"]["error"]["code"] == "provider_error"


async def test_resume_with_last_event_id_replays_only_what_was_missed(live: LiveApi) -> None:
    key = await live.key(await live.account())
    job = await create(live, key, {**SLOW, "prompt": "a lighthouse [slow:2]"})
    seen = []
    async with stream(live, key, f"/api/v1/generations/{job}/events") as response:
        async for item in read_sse(response):
            if item.event == "progress":
                seen.append(item)
                break
            if item.event != ":":
                seen.append(item)
    last_seen = seen[-1]
    await live.wait(key, job)

    headers = {"Last-Event-ID": last_seen.id or ""}
    async with stream(live, key, f"/api/v1/generations/{job}/events", **headers) as response:
        rest = await collect(response, limit=5)
    assert rest, "nothing replayed"
    assert all(parse_id(e.id) > parse_id(last_seen.id) for e in rest)  # type: ignore[operator]
    assert not any(e.data["data"].get("snapshot") for e in rest), "a replay, not a snapshot"
    assert rest[-1].event == "completed"
    assert rest[-1].data["data"]["generation"]["output_url"]
    assert ids_increase(seen + rest)


@pytest.mark.parametrize("last_event_id", ["garbage", "1-1", "99999999999999-5"])
async def test_an_unknown_last_event_id_gets_the_current_state_instead(
    live: LiveApi, last_event_id: str
) -> None:
    key = await live.key(await live.account())
    job = await create(live, key, QUICK)
    await live.wait(key, job)
    headers = {"Last-Event-ID": last_event_id}
    async with stream(live, key, f"/api/v1/generations/{job}/events", **headers) as response:
        events = await collect(response, limit=5)
    assert [e.event for e in events] == ["completed"]
    assert events[0].data["data"]["snapshot"] is True


async def test_another_account_or_mode_gets_404_and_never_its_events(live: LiveApi) -> None:
    owner_account = await live.account("owner@example.com")
    owner = await live.key(owner_account)
    owner_sandbox = await live.key(owner_account, sandbox=True)
    stranger = await live.key(await live.account("other@example.com"))
    job = await create(live, owner, QUICK)
    for key in (stranger, owner_sandbox):
        response = await live.client.get(f"/api/v1/generations/{job}/events", headers=auth(key))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    response = await live.client.get(f"/api/v1/generations/{job}/events")
    assert response.status_code == 401


async def test_cancel_publishes_a_cancelled_event_and_ends_the_stream(live: LiveApi) -> None:
    key = await live.key(await live.account())
    job = await create(live, key, {**SLOW, "prompt": "a lighthouse [slow:30]"})
    events = []
    async with stream(live, key, f"/api/v1/generations/{job}/events") as response:
        async with asyncio.timeout(15):
            async for item in read_sse(response):
                if item.event == ":":
                    continue
                events.append(item)
                if item.event == "progress" and len(events) < 10:
                    cancelled = await live.client.post(
                        f"/api/v1/generations/{job}/cancel", headers=auth(key)
                    )
                    assert cancelled.status_code == 200
    assert events[-1].event == "cancelled"
    generation = events[-1].data["data"]["generation"]
    assert generation["status"] == "cancelled" and generation["credits_refunded"] == 5
    assert [e.event for e in events].count("cancelled") == 1


async def test_retry_publishes_queued_and_the_job_runs_again(live: LiveApi) -> None:
    key = await live.key(await live.account())
    # Sandbox-free failure that a retry can't fix either: we only watch the events.
    job = await create(live, key, {**QUICK, "prompt": "x [fail:provider_error]"})
    await live.wait(key, job)
    async with stream(live, key, "/api/v1/events") as response:
        items = read_sse(response)
        async with asyncio.timeout(10):
            async for item in items:
                if item.event == "ready":
                    break
            retried = await live.client.post(f"/api/v1/generations/{job}/retry", headers=auth(key))
            assert retried.status_code == 202, retried.text
            kinds = []
            async for item in items:
                if item.event != ":":
                    kinds.append((item.event, item.data["data"]["status"]))
                if item.event == "failed":
                    break
    assert kinds[0] == ("status", "queued")
    assert ("status", "processing") in kinds and kinds[-1] == ("failed", "failed")


async def test_the_account_stream_carries_every_job_of_its_mode_with_heartbeats(
    live: LiveApi,
) -> None:
    account = await live.account()
    key, sandbox_key = await live.key(account), await live.key(account, sandbox=True)
    running = await create(live, key, {**SLOW, "prompt": "already running [slow:1]"})
    await live.wait(key, running, until=lambda b: b["status"] == "processing")

    got: list[Any] = []
    pings = 0
    async with stream(live, key, "/api/v1/events") as response:
        items = read_sse(response)
        async with asyncio.timeout(15):
            async for item in items:  # the active job's state, then ready
                got.append(item)
                if item.event == "ready":
                    break
            sandbox_job = await create(live, sandbox_key, {**QUICK, "model": "sandbox/image"})
            second = await create(live, key, QUICK)
            done = set()
            async for item in items:
                if item.event == ":":
                    pings += 1
                    if done == {running, second} and pings >= 2:
                        break
                    continue
                got.append(item)
                if item.event == "completed":
                    done.add(item.data["generation_id"])
    assert got[0].event == "status" and got[0].data["generation_id"] == running
    assert got[0].data["data"]["snapshot"] is True
    assert got[1].event == "ready"
    assert got[1].data["data"] == {"resumed": False, "too_far_behind": False}
    generation_ids = {e.data["generation_id"] for e in got if e.event != "ready"}
    assert generation_ids == {running, second}, "a sandbox job leaked into the live stream"
    assert sandbox_job not in generation_ids
    assert pings >= 2


async def test_deleting_a_running_job_ends_its_stream_with_a_deleted_cancel(live: LiveApi) -> None:
    key = await live.key(await live.account())
    job = await create(live, key, {**SLOW, "prompt": "a lighthouse [slow:30]"})
    await live.wait(key, job, until=lambda b: b["status"] == "processing")
    async with stream(live, key, f"/api/v1/generations/{job}/events") as response:
        items = read_sse(response)
        first = await anext(items)
        while first.event == ":":
            first = await anext(items)
        assert first.data["data"]["status"] == "processing"
        deleted = await live.client.delete(f"/api/v1/generations/{job}", headers=auth(key))
        assert deleted.status_code == 204
        rest = []
        async with asyncio.timeout(5):
            async for item in items:
                if item.event != ":":
                    rest.append(item)
    assert rest[-1].event == "cancelled"
    assert rest[-1].data["data"]["deleted"] is True and rest[-1].data["data"]["generation"] is None
