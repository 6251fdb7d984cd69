"""The only SQL that touches API keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.accounts.models import Account
from mediastudio.keys.models import ApiKey


async def find_with_account(session: AsyncSession, key_hash: str) -> tuple[ApiKey, Account] | None:
    result = await session.execute(
        select(ApiKey, Account)
        .join(Account, Account.id == ApiKey.account_id)
        .where(ApiKey.key_hash == key_hash)
    )
    row = result.one_or_none()
    return (row[0], row[1]) if row else None


async def get_with_account(session: AsyncSession, key_id: str) -> tuple[ApiKey, Account] | None:
    result = await session.execute(
        select(ApiKey, Account)
        .join(Account, Account.id == ApiKey.account_id)
        .where(ApiKey.id == key_id)
    )
    row = result.one_or_none()
    return (row[0], row[1]) if row else None


async def add(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key


async def get(session: AsyncSession, key_id: str) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def list_for(session: AsyncSession, account_id: str | None) -> Sequence[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at)
    if account_id is not None:
        query = query.where(ApiKey.account_id == account_id)
    return (await session.execute(query)).scalars().all()


async def touch(session: AsyncSession, key_id: str, now: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
