"""The only SQL that moves credits. Balances change only together with a ledger row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.accounts.models import Account
from mediastudio.credits.models import CreditGrantToken, LedgerEntry
from mediastudio.generations.models import Generation
from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import utc_day
from mediastudio.kit.ids import first_id_at

_TABLE = cast(Table, LedgerEntry.__table__)
_INSERT = insert(_TABLE)  # a constant statement: compiled once, cached
_COLUMNS = tuple(column.key for column in _TABLE.columns)


async def take_available(session: AsyncSession, account_id: str, amount: int) -> int | None:
    """Move ``amount`` from available to reserved if, and only if, it is available.

    One conditional UPDATE: under any concurrency the balance cannot go below zero, because the
    check and the write are the same statement. Returns the new balance, or None if short.
    """
    result = await session.execute(
        update(Account)
        .where(Account.id == account_id, Account.credit_balance >= amount)
        .values(
            credit_balance=Account.credit_balance - amount,
            credits_reserved=Account.credits_reserved + amount,
        )
        .returning(Account.credit_balance)
    )
    return result.scalar_one_or_none()


async def adjust(session: AsyncSession, account_id: str, amount: int, reserved_delta: int) -> int:
    result = await session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(
            credit_balance=Account.credit_balance + amount,
            credits_reserved=Account.credits_reserved + reserved_delta,
        )
        .returning(Account.credit_balance)
    )
    return int(result.scalar_one())


async def available(session: AsyncSession, account_id: str) -> int:
    result = await session.execute(select(Account.credit_balance).where(Account.id == account_id))
    return int(result.scalar_one())


async def append(session: AsyncSession, entry: LedgerEntry) -> None:
    """Insert a ledger row with one constant Core INSERT rather than the ORM's unit of work
    (which costs more than the statement, and every create and every job's end writes one).
    The object stays out of the session with its defaults filled in, as a flush would."""
    if entry.created_at is None:
        entry.created_at = utcnow()
    if entry.description is None:
        entry.description = ""
    await session.execute(_INSERT, {column: getattr(entry, column) for column in _COLUMNS})


async def grant_token(session: AsyncSession, token: str) -> CreditGrantToken | None:
    return await session.get(CreditGrantToken, token)


async def add_grant_token(session: AsyncSession, row: CreditGrantToken) -> None:
    """Insert now (a flush), so that a second use of the token fails here, in its transaction."""
    session.add(row)
    await session.flush()


async def page(
    session: AsyncSession, account_id: str, *, limit: int, starting_after: str | None
) -> Sequence[LedgerEntry]:
    query = select(LedgerEntry).where(LedgerEntry.account_id == account_id)
    if starting_after:
        query = query.where(LedgerEntry.id < starting_after)
    result = await session.execute(query.order_by(LedgerEntry.id.desc()).limit(limit))
    return result.scalars().all()


async def sums(session: AsyncSession, account_id: str) -> tuple[int, int]:
    """(sum of amounts, sum of reserved deltas): what the account's two columns must equal."""
    result = await session.execute(
        select(
            func.coalesce(func.sum(LedgerEntry.amount), 0),
            func.coalesce(func.sum(LedgerEntry.reserved_delta), 0),
        ).where(LedgerEntry.account_id == account_id)
    )
    amount, reserved = result.one()
    return int(amount), int(reserved)


def _captures_since(account_id: str, since: datetime) -> ColumnElement[bool]:
    """An account's captures (the credits actually charged) since ``since``. The id bound walks
    the (account_id, id) index from ``since`` on; created_at keeps the exact bound."""
    return and_(
        LedgerEntry.account_id == account_id,
        LedgerEntry.kind == "capture",
        LedgerEntry.id >= first_id_at("txn", int(since.timestamp() * 1000)),
        LedgerEntry.created_at >= since,
    )


async def charged_per_day_since(
    session: AsyncSession, account_id: str, since: datetime
) -> dict[str, int]:
    """Credits charged per UTC day (``YYYY-MM-DD``) since ``since``: one GROUP BY."""
    day = utc_day(session, LedgerEntry.created_at)
    result = await session.execute(
        select(day, func.sum(-LedgerEntry.reserved_delta))
        .where(_captures_since(account_id, since))
        .group_by(day)
    )
    return {str(day_): int(total) for day_, total in result.all()}


async def charged_per_type_since(
    session: AsyncSession, account_id: str, since: datetime
) -> dict[str | None, int]:
    """Credits charged per generation type since ``since``: one GROUP BY over the ledger joined
    to its generations. An outer join, so that a deleted generation's charge (the ledger keeps
    it) still counts, under ``None``."""
    result = await session.execute(
        select(Generation.type, func.sum(-LedgerEntry.reserved_delta))
        .select_from(LedgerEntry)
        .outerjoin(Generation, Generation.id == LedgerEntry.generation_id)
        .where(_captures_since(account_id, since))
        .group_by(Generation.type)
    )
    return {type_: int(total) for type_, total in result.all()}
