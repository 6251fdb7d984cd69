"""The only SQL that touches idempotency records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.idempotency.models import IdempotencyRecord


async def get(
    session: AsyncSession, account_id: str, sandbox: bool, key: str
) -> IdempotencyRecord | None:
    return await session.get(IdempotencyRecord, (account_id, sandbox, key))


async def add(session: AsyncSession, record: IdempotencyRecord) -> None:
    session.add(record)
    await session.flush()


async def take_over(
    session: AsyncSession, record: IdempotencyRecord, seen_locked_at: datetime, **values: Any
) -> bool:
    """Claim ``record`` again (its claim was abandoned, or it expired) only if nobody did since
    it was read with ``seen_locked_at``: of two processes taking over one key at once, one wins
    (on PostgreSQL the second UPDATE waits for the first and then matches no row)."""
    result = await session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.account_id == record.account_id,
            IdempotencyRecord.sandbox == record.sandbox,
            IdempotencyRecord.key == record.key,
            IdempotencyRecord.locked_at == seen_locked_at,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


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
