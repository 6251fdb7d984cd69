"""Money and idempotency under concurrent HTTP requests to one server process."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from tests.e2e.server import ServerProcess, assert_books_balanced, auth, client, ledger, wait_for

pytestmark = pytest.mark.e2e

IMAGE = {"prompt": "a lighthouse", "model": "fake/image"}  # 5 credits
# The client drops an idle connection before uvicorn's 5 s keep-alive closes it: with both at 5 s,
# a poll could go out on a connection the server was closing at that moment ("Server
# disconnected without sending a response", seen once on a loaded machine).
MANY = httpx.Limits(max_connections=250, max_keepalive_connections=250, keepalive_expiry=2.0)


async def test_200_concurrent_creates_spend_exactly_the_credit_there_is(
    server: ServerProcess,
) -> None:
    key = server.start_with_account(credits=50)  # ten images' worth
    async with client(server, limits=MANY, timeout=120.0) as http:
        responses = await asyncio.gather(
            *(
                http.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
                for _ in range(200)
            )
        )
        assert Counter(r.status_code for r in responses) == {202: 10, 402: 190}
        for response in responses:
            if response.status_code == 402:
                assert response.json()["error"]["code"] == "insufficient_credits", response.text
        accepted = [r.json()["id"] for r in responses if r.status_code == 202]
        assert len(set(accepted)) == 10

        for job_id in accepted:
            done = await wait_for(http, key, job_id, timeout=60)
            assert done["status"] == "completed", done
            assert done["credits_charged"] == 5
        assert await assert_books_balanced(http, key) == (0, 0)
        kinds = Counter(entry["kind"] for entry in await ledger(http, key))
        assert kinds == {"grant": 1, "reserve": 10, "capture": 10}


async def test_50_concurrent_retries_with_one_idempotency_key_make_one_generation(
    server: ServerProcess,
) -> None:
    key = server.start_with_account(credits=1000)
    headers = {**auth(key), "Idempotency-Key": "e2e-one-request"}
    async with client(server, limits=MANY, timeout=120.0) as http:
        responses = await asyncio.gather(
            *(http.post("/api/v1/generate/image", json=IMAGE, headers=headers) for _ in range(50))
        )
        statuses = Counter(r.status_code for r in responses)
        assert set(statuses) <= {202, 409} and statuses[202] >= 1, statuses
        for response in responses:
            if response.status_code == 409:
                assert response.json()["error"]["code"] == "idempotency_key_in_use"
        ids = {r.json()["id"] for r in responses if r.status_code == 202}
        assert len(ids) == 1, ids
        (job_id,) = ids

        listed = (await http.get("/api/v1/generations", headers=auth(key))).json()
        assert [job["id"] for job in listed["data"]] == [job_id]

        replay = await http.post("/api/v1/generate/image", json=IMAGE, headers=headers)
        assert replay.status_code == 202, replay.text
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["id"] == job_id

        assert (await wait_for(http, key, job_id))["status"] == "completed"
        assert await assert_books_balanced(http, key) == (995, 0)
        kinds = Counter(entry["kind"] for entry in await ledger(http, key))
        assert kinds == {"grant": 1, "reserve": 1, "capture": 1}
