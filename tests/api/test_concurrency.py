"""Money and idempotency under concurrency, through the real request path."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select

from mediastudio.credits.models import LedgerEntry
from mediastudio.generations.models import Generation
from tests.api.test_generations import assert_ledger_balanced
from tests.conftest import Api, auth

pytestmark = pytest.mark.databases

IMAGE = {"prompt": "a lighthouse", "model": "fake/image"}  # 5 credits


async def test_200_concurrent_creates_against_credit_for_10(api: Api) -> None:
    account = await api.account(credits=50)
    key = await api.key(account)
    responses = await asyncio.gather(
        *(
            api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
            for _ in range(200)
        )
    )
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {202: 10, 402: 190}
    async with api.platform.db.read() as session:
        generations = await session.scalar(
            select(func.count()).select_from(Generation).where(Generation.account_id == account)
        )
        reserves = await session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "reserve")
        )
    assert generations == 10 and reserves == 10
    await assert_ledger_balanced(api, account)
    for response in responses:
        if response.status_code == 202:
            await api.wait(key, response.json()["id"])
    body = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    assert (body["credit_balance"], body["credits_reserved"]) == (0, 0)
    await assert_ledger_balanced(api, account)


async def test_50_concurrent_requests_with_one_idempotency_key_make_one_generation(
    api: Api,
) -> None:
    account = await api.account(credits=1000)
    key = await api.key(account)
    headers = {**auth(key), "Idempotency-Key": "the-same-key"}
    responses = await asyncio.gather(
        *(api.client.post("/api/v1/generate/image", json=IMAGE, headers=headers) for _ in range(50))
    )
    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) <= {202, 409}, statuses
    ids = {r.json()["id"] for r in responses if r.status_code == 202}
    assert len(ids) == 1
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "idempotency_key_in_use"
    async with api.platform.db.read() as session:
        count = await session.scalar(select(func.count()).select_from(Generation))
        reserves = await session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "reserve")
        )
    assert count == 1 and reserves == 1
    # Once the first request has finished, every retry replays its response.
    replay = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=headers)
    assert replay.status_code == 202
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] in ids


async def test_failed_create_releases_its_idempotency_key(api: Api) -> None:
    account = await api.account(credits=2)
    key = await api.key(account)
    headers = {**auth(key), "Idempotency-Key": "top-up-then-retry"}
    refused = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=headers)
    assert refused.status_code == 402
    from mediastudio.credits import service as credits

    async with api.platform.db.write() as session:
        await credits.grant(session, account, 10, "top up")
    accepted = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=headers)
    assert accepted.status_code == 202
    assert "idempotent-replayed" not in accepted.headers


async def test_concurrency_cap_holds_jobs_back_until_a_slot_frees(api: Api) -> None:
    account = await api.account(plan="free", credits=1000)  # free: one job at a time
    key = await api.key(account)
    slow = {**IMAGE, "prompt": "[slow:1]"}
    first = (await api.client.post("/api/v1/generate/image", json=slow, headers=auth(key))).json()
    second = (await api.client.post("/api/v1/generate/image", json=slow, headers=auth(key))).json()
    running = await api.wait(key, first["id"], until=lambda b: b["status"] == "processing")
    assert running["status"] == "processing"
    held = (await api.client.get(f"/api/v1/generations/{second['id']}", headers=auth(key))).json()
    assert held["status"] == "queued"
    await api.wait(key, first["id"])
    assert (await api.wait(key, second["id"]))["status"] == "completed"
