"""The only SQL that touches idempotency records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.idempotency.models import IdempotencyRecord


async def get(
    session: AsyncSession, account_id: str, sandbox: bool, key: str
) -> IdempotencyRecord | None:
    return await session.get(IdempotencyRecord, (account_id, sandbox, key))


async def add(session: AsyncSession, record: IdempotencyRecord) -> None:
    session.add(record)
    await session.flush()


async def remove(session: AsyncSession, account_id: str, sandbox: bool, key: str) -> None:
    await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.account_id == account_id,
            IdempotencyRecord.sandbox == sandbox,
            IdempotencyRecord.key == key,
        )
    )


async def remove_expired(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now)
    )
    return int(getattr(result, "rowcount", 0) or 0)
