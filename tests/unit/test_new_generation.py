"""A create's new generation: ``repository.new`` answers with the row its own transaction wrote,
and an idempotent retry racing the original gets its own row while replays keep the first."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, update

from mediastudio.generations import repository
from mediastudio.generations import service as generation_service
from mediastudio.generations.models import Generation
from mediastudio.generations.service import Created, NewGeneration
from mediastudio.idempotency import service as idempotency
from mediastudio.idempotency.models import IdempotencyRecord
from mediastudio.keys.auth import principal_for
from mediastudio.kit.clock import utcnow
from mediastudio.kit.ids import new_id
from tests.conftest import Api


async def test_new_returns_the_row_it_inserted_with_its_defaults(api: Api) -> None:
    account_id = await api.account()
    async with api.platform.db.write() as session:
        made = await repository.new(
            session,
            id=new_id("gen"),
            account_id=account_id,
            type="image",
            model="sandbox/image",
            status="queued",
            input={"prompt": "a cat"},
            outputs=[],
            credits_reserved=0,
            sandbox=True,
            metadata_={"order": 7},
            pool="cpu",
            created_at=utcnow(),
        )
        assert made not in session  # as add(): outside the session, nothing to flush
    assert isinstance(made, Generation)
    async with api.platform.db.read() as session:
        stored = await repository.get(session, made.id)
    assert stored is not None
    for attribute in inspect(Generation).column_attrs:
        key = attribute.key
        assert getattr(made, key) == getattr(stored, key), key  # defaults included
    with pytest.raises(TypeError, match="not a column"):
        async with api.platform.db.write() as session:
            await repository.new(session, id=new_id("gen"), colour="red")


async def test_a_retry_racing_the_original_answers_with_its_own_row(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The original request stalls after claiming its key, past ``idempotency_lock_s``; a retry
    takes the claim over and finishes first. Each answers with the generation its own
    transaction inserted; the stored response (what later replays answer) stays the retry's,
    the first one stored, rather than being overwritten by the late original."""
    platform = api.platform
    owner = await principal_for(platform, None, secret=await api.key(await api.account()))
    key, body = "race-1", {"prompt": "x"}
    fingerprint = idempotency.request_hash("POST", "/api/v1/generate/image", body)
    stalled, retry_done = asyncio.Event(), asyncio.Event()
    real_claim = idempotency.claim
    claims = 0

    async def claim(*args: Any) -> idempotency.Replay | None:
        nonlocal claims
        claims += 1
        first = claims == 1
        replay = await real_claim(*args)
        if first:  # the original: its claim goes stale while it stalls
            async with platform.db.write() as session:
                stale = utcnow() - timedelta(seconds=platform.settings.idempotency_lock_s + 1)
                await session.execute(
                    update(IdempotencyRecord)
                    .where(IdempotencyRecord.key == key)
                    .values(locked_at=stale)
                )
            stalled.set()
            await retry_done.wait()
        return replay

    monkeypatch.setattr(generation_service.idempotency, "claim", claim)

    async def create() -> Created:
        return await platform.generations.create(
            owner,
            NewGeneration(input=body, type="image"),
            idempotency_key=key,
            fingerprint=fingerprint,
        )

    original = asyncio.create_task(create())
    await stalled.wait()
    retry = await create()
    retry_done.set()
    first = await original

    assert first.generation is not None and retry.generation is not None
    assert first.generation.id != retry.generation.id  # two requests, two transactions
    for created in (first, retry):
        assert created.generation is not None
        async with platform.db.read() as session:
            stored = await repository.get(session, created.generation.id)
        assert stored is not None and stored.input == created.generation.input
    monkeypatch.setattr(generation_service.idempotency, "claim", real_claim)
    replay = await create()
    assert replay.replay is not None
    assert replay.replay.body["id"] == retry.generation.id
