"""The only SQL that touches API keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.accounts.models import Account
from mediastudio.keys.models import ApiKey


@dataclass(frozen=True, slots=True)
class Credentials:
    """What authenticating a request needs of a key and its account, read as plain columns:
    every request does this, and loading two ORM objects (identity map, unit of work, every
    column) cost more than the query itself."""

    id: str
    account_id: str
    sandbox: bool
    scopes: list[str]
    ip_allowlist: list[str]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    plan: str


_CREDENTIALS = (
    ApiKey.id,
    ApiKey.account_id,
    ApiKey.sandbox,
    ApiKey.scopes,
    ApiKey.ip_allowlist,
    ApiKey.expires_at,
    ApiKey.revoked_at,
    ApiKey.last_used_at,
    Account.plan,
)


async def _credentials(session: AsyncSession, condition: ColumnElement[bool]) -> Credentials | None:
    query = select(*_CREDENTIALS).join(Account, Account.id == ApiKey.account_id).where(condition)
    row = (await session.execute(query)).first()
    return Credentials(*row) if row else None


async def find_credentials(session: AsyncSession, key_hash: str) -> Credentials | None:
    return await _credentials(session, ApiKey.key_hash == key_hash)


async def get_credentials(session: AsyncSession, key_id: str) -> Credentials | None:
    return await _credentials(session, ApiKey.id == key_id)


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
