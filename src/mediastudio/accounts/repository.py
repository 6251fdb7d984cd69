"""The only SQL that touches accounts and users."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.accounts.models import Account


async def get(session: AsyncSession, account_id: str) -> Account | None:
    return await session.get(Account, account_id)


async def get_by_email(session: AsyncSession, email: str) -> Account | None:
    result = await session.execute(select(Account).where(Account.email == email))
    return result.scalar_one_or_none()


async def lock(session: AsyncSession, account_id: str) -> Account | None:
    """Read the account and hold its row until commit (a no-op lock on SQLite, whose
    write transactions are already serialised), so per-account checks cannot race."""
    result = await session.execute(
        select(Account).where(Account.id == account_id).with_for_update()
    )
    return result.scalar_one_or_none()


async def add(session: AsyncSession, account: Account) -> Account:
    session.add(account)
    await session.flush()
    return account


async def list_all(session: AsyncSession) -> Sequence[Account]:
    result = await session.execute(select(Account).order_by(Account.created_at))
    return result.scalars().all()


async def count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Account))).scalar_one())


async def page(
    session: AsyncSession, *, limit: int, starting_after: str | None
) -> Sequence[Account]:
    """Every account, newest first (ids sort by creation time), ``limit`` at a time; the
    cursor is the last id of the page before, as ``starting_after`` is in the API."""
    query = select(Account)
    if starting_after:
        query = query.where(Account.id < starting_after)
    result = await session.execute(query.order_by(Account.id.desc()).limit(limit))
    return result.scalars().all()
