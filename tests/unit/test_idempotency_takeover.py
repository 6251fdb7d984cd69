"""Taking over an abandoned or expired Idempotency-Key claim: of concurrent requests (two API
processes on PostgreSQL read the same stale record at once), exactly one wins."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from mediastudio.idempotency import service as idempotency
from mediastudio.idempotency.models import IdempotencyRecord
from mediastudio.keys.auth import principal_for
from mediastudio.kit.clock import utcnow
from mediastudio.kit.errors import IdempotencyKeyInUse
from tests.conftest import Api

pytestmark = pytest.mark.databases

FINGERPRINT = idempotency.request_hash("POST", "/api/v1/generate/image", {"prompt": "x"})


async def test_a_stale_claim_is_taken_over_by_exactly_one_of_concurrent_requests(
    api: Api,
) -> None:
    db, settings = api.platform.db, api.platform.settings
    # The sweeper deletes expired records: one deleted mid-test would make every claim of it
    # answer in_use (a retry then claims it afresh), not what this test is about.
    await api.platform.sweeper.stop()
    owner = await principal_for(api.platform, None, secret=await api.key(await api.account()))
    past = utcnow() - timedelta(seconds=settings.idempotency_lock_s + 1)
    # One claim abandoned (its request died mid-way), one expired (its TTL is over).
    stale = {"abandoned": {"locked_at": past}, "expired": {"expires_at": past}}
    for key, values in stale.items():
        assert await idempotency.claim(db, settings, owner, key, FINGERPRINT) is None
        async with db.write() as session:
            await session.execute(
                update(IdempotencyRecord).where(IdempotencyRecord.key == key).values(**values)
            )

    for key in stale:
        results = await asyncio.gather(
            *(idempotency.claim(db, settings, owner, key, FINGERPRINT) for _ in range(4)),
            return_exceptions=True,
        )
        assert sum(r is None for r in results) == 1, (key, results)
        assert all(r is None or isinstance(r, IdempotencyKeyInUse) for r in results), results
