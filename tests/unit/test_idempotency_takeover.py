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


@pytest.mark.parametrize("stale", ["abandoned", "expired"])
async def test_a_stale_claim_is_taken_over_by_exactly_one_of_two_requests(
    api: Api, stale: str
) -> None:
    db, settings = api.platform.db, api.platform.settings
    owner = await principal_for(api.platform, None, secret=await api.key(await api.account()))
    assert await idempotency.claim(db, settings, owner, "k", FINGERPRINT) is None
    past = utcnow() - timedelta(seconds=settings.idempotency_lock_s + 1)
    values = {"locked_at": past} if stale == "abandoned" else {"expires_at": past}
    async with db.write() as session:
        await session.execute(update(IdempotencyRecord).values(**values))

    results = await asyncio.gather(
        *(idempotency.claim(db, settings, owner, "k", FINGERPRINT) for _ in range(4)),
        return_exceptions=True,
    )

    assert sum(r is None for r in results) == 1, results
    assert all(r is None or isinstance(r, IdempotencyKeyInUse) for r in results), results
