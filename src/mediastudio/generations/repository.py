"""The only SQL that touches generations.

Status changes are conditional UPDATEs (``WHERE status = …``): whoever moves a job first wins,
and a late writer (a worker finishing a job that was cancelled meanwhile) changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from mediastudio.accounts.models import Account
from mediastudio.generations.models import Generation, Status
from mediastudio.kit.db import utc_day
from mediastudio.kit.ids import first_id_at

ACTIVE = (Status.QUEUED.value, Status.PROCESSING.value)
# (attribute, column, column default) of every column, for new().
_INSERTED = tuple(
    (attribute.key, attribute.columns[0].key, attribute.columns[0].default)
    for attribute in inspect(Generation).column_attrs
)
_KEYS = frozenset(key for key, _column, _default in _INSERTED)
_INSERT = insert(cast(Table, Generation.__table__))
# A bare instance with its ORM state set up, as the ORM makes one for a row it loads.
_NEW_INSTANCE = inspect(Generation).class_manager.new_instance
# The claim's own view of the row it locks: an alias, so that the subquery is not correlated
# with the UPDATE of the same table.
_CLAIMABLE = aliased(Generation, name="claimable")
_GET_FOR_ACCOUNT = select(Generation).where(
    Generation.id == bindparam("id"),
    Generation.account_id == bindparam("account_id"),
    Generation.sandbox == bindparam("sandbox"),
)


@dataclass(frozen=True)
class Filters:
    type: str | None = None
    status: str | None = None
    model: str | None = None
    external_id: str | None = None


async def new(session: AsyncSession, **values: Any) -> Generation:
    """Insert a new generation from its column values (the constructor's keywords) with one
    Core INSERT, and return it as a ``Generation`` filled in the way the ORM fills a loaded
    row: its values written into the instance's dict at once, column defaults included, rather
    than through the constructor's instrumented setters (an attribute event and a change
    record each) and, for a column left unset, a loader on first read. About 80 Python calls
    less per create (docs/benchmarks.md, "The request path, fourth slice"). The object is this
    transaction's own row, never one read back, and stays out of the session."""
    unknown = values.keys() - _KEYS
    if unknown:
        raise TypeError(f"not a column of Generation: {sorted(unknown)}")
    row: dict[str, Any] = {}
    state: dict[str, Any] = {}
    for key, column, default in _INSERTED:
        value = values.get(key)
        if value is None and default is not None:
            value = default.arg(None) if default.is_callable else default.arg
        row[column] = state[key] = value
    await session.execute(_INSERT, row)  # a constant statement: compiled once, cached
    generation: Generation = _NEW_INSTANCE()
    generation.__dict__.update(state)
    return generation


async def get(session: AsyncSession, generation_id: str) -> Generation | None:
    return await session.get(Generation, generation_id)


async def reload(session: AsyncSession, generation_id: str) -> Generation | None:
    """The row as this transaction sees it now (after a conditional UPDATE), not a cached copy."""
    return await session.get(Generation, generation_id, populate_existing=True)


async def get_for_account(
    session: AsyncSession,
    account_id: str,
    generation_id: str,
    *,
    sandbox: bool,
    for_update: bool = False,
) -> Generation | None:
    """A generation of this account *and mode*: sandbox keys see only sandbox jobs, live keys
    only live ones (as test and live modes are separate in payment APIs)."""
    if not for_update:
        # The hot read: one statement built once, its parameters bound at execution, so no
        # request pays for building, coercing and keying it again.
        parameters = {"id": generation_id, "account_id": account_id, "sandbox": sandbox}
        return (await session.execute(_GET_FOR_ACCOUNT, parameters)).scalar_one_or_none()
    query = select(Generation).where(
        Generation.id == generation_id,
        Generation.account_id == account_id,
        Generation.sandbox == sandbox,
    )
    return (await session.execute(query.with_for_update())).scalar_one_or_none()


async def page(
    session: AsyncSession,
    account_id: str,
    filters: Filters,
    *,
    sandbox: bool,
    limit: int,
    offset: int,
    starting_after: str | None,
) -> Sequence[Generation]:
    """Newest first. Fetches ``limit + 1`` rows so the caller can tell whether more exist."""
    query = select(Generation).where(
        Generation.account_id == account_id, Generation.sandbox == sandbox
    )
    for column, value in (
        (Generation.type, filters.type),
        (Generation.status, filters.status),
        (Generation.model, filters.model),
        (Generation.external_id, filters.external_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if starting_after is not None:
        query = query.where(Generation.id < starting_after)
    query = query.order_by(Generation.id.desc()).offset(offset).limit(limit + 1)
    return (await session.execute(query)).scalars().all()


async def finished_since(
    session: AsyncSession, account_id: str, since: datetime, *, sandbox: bool, limit: int
) -> Sequence[Generation]:
    """The account's generations of this mode that reached a final status after ``since``,
    oldest first (ix_generations_account_id_sandbox_completed_at); at most ``limit``. A
    retried job has no ``completed_at`` until it ends again."""
    query = (
        select(Generation)
        .where(
            Generation.account_id == account_id,
            Generation.sandbox == sandbox,
            Generation.completed_at > since,
            Generation.status.not_in(ACTIVE),
        )
        .order_by(Generation.completed_at, Generation.id)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def count_by_type_since(
    session: AsyncSession, account_id: str, since: datetime, *, sandbox: bool = False
) -> dict[str, int]:
    result = await session.execute(
        select(Generation.type, func.count())
        .where(
            Generation.account_id == account_id,
            Generation.created_at >= since,
            Generation.sandbox == sandbox,
        )
        .group_by(Generation.type)
    )
    return {type_: int(count) for type_, count in result.all()}


async def count_of_type_since(
    session: AsyncSession, account_id: str, type_: str, since: datetime
) -> int:
    result = await session.execute(
        select(func.count()).where(
            Generation.account_id == account_id,
            Generation.type == type_,
            Generation.created_at >= since,
            Generation.sandbox.is_(False),
        )
    )
    return int(result.scalar_one())


async def claim_queued(
    session: AsyncSession, generation_id: str, worker_id: str, lease_until: datetime, now: datetime
) -> tuple[Generation, str | None] | None:
    """Move a queued job to processing for ``worker_id`` in one statement, which returns the
    claimed row and its account's plan (None when the account is gone); None when the job was
    not queued any more (someone else claimed, cancelled or deleted it)."""
    plan = select(Account.plan).where(Account.id == Generation.account_id).scalar_subquery()
    target = Generation.id == generation_id
    if session.get_bind().dialect.name == "postgresql":
        # Workers compete for a job whenever its offer reaches more than one of them (a broker
        # message sent again by a sweeper, every polling worker's sweeper offering the same
        # queue). A plain UPDATE would make the losers wait on the winner's row lock until its
        # claim transaction commits (which also waits for the account's lock under a cap),
        # only to find the job taken. SKIP LOCKED: a row another transaction holds is not to
        # be claimed now, and this claim returns at once. Should the holder leave the job
        # queued (a deferred or rolled-back claim, a failed cancel), the sweeper offers it
        # again. SQLite needs nothing: its writers take turns.
        target = Generation.id == (
            select(_CLAIMABLE.id)
            .where(_CLAIMABLE.id == generation_id, _CLAIMABLE.status == Status.QUEUED)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    query = (
        update(Generation)
        .where(target, Generation.status == Status.QUEUED)
        .values(
            status=Status.PROCESSING,
            worker_id=worker_id,
            lease_expires_at=lease_until,
            attempts=Generation.attempts + 1,
            started_at=func.coalesce(Generation.started_at, now),
        )
        .returning(Generation, plan)
    )
    row = (await session.execute(query)).one_or_none()
    return None if row is None else (row[0], row[1])


async def count_processing(session: AsyncSession, account_id: str) -> int:
    result = await session.execute(
        select(func.count()).where(
            Generation.account_id == account_id, Generation.status == Status.PROCESSING
        )
    )
    return int(result.scalar_one())


async def transition(
    session: AsyncSession,
    generation_id: str,
    *,
    from_statuses: Sequence[str],
    worker_id: str | None = None,
    values: dict[str, Any],
) -> bool:
    """Apply ``values`` only if the job is still in one of ``from_statuses`` (and, when given,
    still held by ``worker_id``). True if this call made the change."""
    query = update(Generation).where(
        Generation.id == generation_id, Generation.status.in_(from_statuses)
    )
    if worker_id is not None:
        query = query.where(Generation.worker_id == worker_id)
    result = await session.execute(query.values(**values))
    return bool(getattr(result, "rowcount", 0))


async def expired_leases(session: AsyncSession, now: datetime) -> Sequence[Generation]:
    result = await session.execute(
        select(Generation).where(
            Generation.status == Status.PROCESSING, Generation.lease_expires_at < now
        )
    )
    return result.scalars().all()


async def processing_held_by(session: AsyncSession, prefix: str) -> Sequence[Generation]:
    result = await session.execute(
        select(Generation).where(
            Generation.status == Status.PROCESSING, Generation.worker_id.startswith(prefix)
        )
    )
    return result.scalars().all()


async def queued(session: AsyncSession) -> Sequence[tuple[str, str]]:
    result = await session.execute(
        select(Generation.id, Generation.pool)
        .where(Generation.status == Status.QUEUED)
        .order_by(Generation.id)
    )
    return [(row[0], row[1]) for row in result.all()]


async def remove(session: AsyncSession, generation_id: str) -> None:
    await session.execute(delete(Generation).where(Generation.id == generation_id))


async def count_per_day_since(
    session: AsyncSession, account_id: str, since: datetime, *, sandbox: bool = False
) -> dict[str, int]:
    """Generations created per UTC day (``YYYY-MM-DD``) since ``since``: one GROUP BY. The id
    bound walks the (account_id, sandbox, id) index from ``since`` on instead of the account's
    whole history; created_at keeps the exact bound."""
    day = utc_day(session, Generation.created_at)
    result = await session.execute(
        select(day, func.count())
        .where(
            Generation.account_id == account_id,
            Generation.sandbox == sandbox,
            Generation.id >= first_id_at("gen", int(since.timestamp() * 1000)),
            Generation.created_at >= since,
        )
        .group_by(day)
    )
    return {str(day_): int(count) for day_, count in result.all()}


async def count_live_since_by_account(
    session: AsyncSession, account_ids: Sequence[str], since: datetime
) -> dict[str, int]:
    """Live generations created since ``since``, per account of ``account_ids`` (the operator's
    list of accounts): one GROUP BY over the (account_id, sandbox, id) index, bounded by id as
    ``count_per_day_since`` is."""
    if not account_ids:
        return {}
    result = await session.execute(
        select(Generation.account_id, func.count())
        .where(
            Generation.account_id.in_(account_ids),
            Generation.sandbox.is_(False),
            Generation.id >= first_id_at("gen", int(since.timestamp() * 1000)),
            Generation.created_at >= since,
        )
        .group_by(Generation.account_id)
    )
    return {account_id: int(count) for account_id, count in result.all()}
