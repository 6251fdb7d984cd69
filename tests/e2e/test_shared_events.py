"""Live events and idempotency across API processes: two real ``mediastudio serve`` processes on
one data directory and one Redis (docs/deployment.md#redis). A job created through A is streamed
from B; a client that reconnects with ``Last-Event-ID`` gets exactly what it missed, from either;
one Idempotency-Key sent to both at once makes one job. One test, because starting the two
servers is most of its time."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from mediastudio.kit.events import parse_id
from tests.e2e.server import ServerProcess, auth, client, wait_for
from tests.live_server import Sse, read_sse
from tests.redis_server import REDIS_URL, count_prefixed

pytestmark = pytest.mark.e2e

IMAGE = {"prompt": "a lighthouse [slow:0.6]", "model": "fake/image", "width": 256, "height": 256}


def _start_both(pair: list[ServerProcess], prefix: str) -> str:
    env = {
        "MEDIASTUDIO_REDIS_URL": REDIS_URL,
        "MEDIASTUDIO_REDIS_KEY_PREFIX": prefix,
        "MEDIASTUDIO_RATE_LIMIT_KEY_PREFIX": prefix,
        "MEDIASTUDIO_EVENTS_HEARTBEAT_S": "0.5",
    }
    first, second = pair
    key = first.start_with_account(env, credits=1000)
    second.start(env)
    return key


async def _create(http: httpx.AsyncClient, server: ServerProcess, key: str) -> str:
    url = f"{server.base_url}/api/v1/generate/image"
    response = await http.post(url, json=IMAGE, headers=auth(key))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def _next(events: AsyncIterator[Sse]) -> Sse:
    """The next event of a stream (comments skipped)."""
    async with asyncio.timeout(30):
        async for event in events:
            if event.event != ":":
                return event
    raise AssertionError("the stream ended")


async def _follow(
    http: httpx.AsyncClient,
    server: ServerProcess,
    key: str,
    until_completed: Callable[[], str | None],
    last_event_id: str | None = None,
    on_ready: Callable[[], Awaitable[None]] | None = None,
) -> list[Sse]:
    """The account stream of ``server`` (resuming after ``last_event_id``) until ``ready``, then
    until the ``completed`` event of the generation ``until_completed()`` names."""
    headers = auth(key) | ({"Last-Event-ID": last_event_id} if last_event_id else {})
    received: list[Sse] = []
    async with http.stream("GET", f"{server.base_url}/api/v1/events", headers=headers) as stream:
        assert stream.status_code == 200
        events = read_sse(stream)
        while not received or received[-1].event != "ready":
            received.append(await _next(events))
        if on_ready is not None:
            await on_ready()
        while not any(
            e.event == "completed" and e.data["generation_id"] == until_completed()
            for e in received
        ):
            received.append(await _next(events))
    return received


def _ids(events: list[Sse]) -> list[tuple[int, int]]:
    return [parse_id(e.id or "") or (0, 0) for e in events if e.event != "ready"]


async def test_events_and_idempotency_hold_across_two_processes(
    redis_prefix: str, pair: list[ServerProcess]
) -> None:
    # redis_prefix first: its keys are deleted after the servers stopped (a job still running
    # at the end publishes until then).
    a, b = pair
    key = _start_both(pair, redis_prefix)
    async with client(a, timeout=60.0) as http:
        # B listens before the job exists; the job is created through A.
        job: dict[str, str] = {}

        async def create_on_a() -> None:
            job["id"] = await _create(http, a, key)

        live = await _follow(http, b, key, lambda: job.get("id"), on_ready=create_on_a)
        first = [e for e in live if e.event != "ready"]
        assert {e.data["generation_id"] for e in first} == {job["id"]}
        assert first[0].event == "status" and first[-1].event == "completed", first
        assert "processing" in {e.data["data"]["status"] for e in first}
        final = first[-1].data["data"]
        assert final["generation"]["status"] == "completed" and "snapshot" not in final
        resume_from = first[-1].id
        assert resume_from

        # Disconnected: a second job runs through A while nobody listens.
        second_id = await _create(http, a, key)
        assert (await wait_for(http, key, second_id))["status"] == "completed"

        # Reconnect to B (and to A) with Last-Event-ID: exactly the second job's events.
        missed_on_b = await _follow(http, b, key, lambda: second_id, last_event_id=resume_from)
        missed_on_a = await _follow(http, a, key, lambda: second_id, last_event_id=resume_from)
    for missed in (missed_on_b, missed_on_a):
        ready = [e for e in missed if e.event == "ready"]
        assert len(ready) == 1 and ready[0].data["data"]["resumed"] is True, missed
        replayed = [e for e in missed if e.event != "ready"]
        assert {e.data["generation_id"] for e in replayed} == {second_id}
        assert [e.event for e in replayed].count("completed") == 1
        assert replayed[-1].event == "completed"
        ids = _ids(missed)
        assert ids == sorted(ids) and len(set(ids)) == len(ids)  # in order, no duplicates
        assert min(ids) > (parse_id(resume_from) or (0, 0))
    assert [e.id for e in missed_on_a] == [e.id for e in missed_on_b]  # one history for both
    assert count_prefixed(redis_prefix) >= 2

    # One Idempotency-Key sent to both processes at once (one server start for both checks:
    # starting two servers is most of this test's time).
    headers = {**auth(key), "Idempotency-Key": "two-processes-one-request"}
    async with client(a, timeout=60.0, limits=httpx.Limits(max_connections=50)) as http:
        responses = await asyncio.gather(
            *(
                http.post(f"{server.base_url}/api/v1/generate/image", json=IMAGE, headers=headers)
                for server in [a, b] * 10
            )
        )
        statuses = Counter(r.status_code for r in responses)
        assert set(statuses) <= {202, 409} and statuses[202] >= 1, statuses
        ids = {r.json()["id"] for r in responses if r.status_code == 202}
        assert len(ids) == 1, ids
        listed: Any = (await http.get(f"{b.base_url}/api/v1/generations", headers=auth(key))).json()
        assert {job["id"] for job in listed["data"]} == {job["id"], second_id, *ids}
