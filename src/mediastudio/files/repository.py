"""The only SQL that touches uploaded files. Every query is scoped by account and mode."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.files.models import StoredFile


async def add(session: AsyncSession, stored: StoredFile) -> StoredFile:
    session.add(stored)
    await session.flush()
    return stored


async def get(
    session: AsyncSession, account_id: str, file_id: str, *, sandbox: bool
) -> StoredFile | None:
    query = select(StoredFile).where(
        StoredFile.id == file_id, StoredFile.account_id == account_id, StoredFile.sandbox == sandbox
    )
    return (await session.execute(query)).scalar_one_or_none()


async def keys_for(
    session: AsyncSession, account_id: str, file_ids: Collection[str], *, sandbox: bool
) -> dict[str, str]:
    """``{file_id: storage key}`` for the ids among ``file_ids`` this account owns in this mode."""
    if not file_ids:
        return {}
    query = select(StoredFile.id, StoredFile.key).where(
        StoredFile.account_id == account_id,
        StoredFile.sandbox == sandbox,
        StoredFile.id.in_(list(file_ids)),
    )
    return {row.id: row.key for row in await session.execute(query)}


async def list_page(
    session: AsyncSession,
    account_id: str,
    *,
    sandbox: bool,
    limit: int,
    starting_after: str | None,
) -> Sequence[StoredFile]:
    query = select(StoredFile).where(
        StoredFile.account_id == account_id, StoredFile.sandbox == sandbox
    )
    if starting_after is not None:
        query = query.where(StoredFile.id < starting_after)
    query = query.order_by(StoredFile.id.desc()).limit(limit)
    return (await session.execute(query)).scalars().all()


async def remove(session: AsyncSession, file_id: str) -> None:
    await session.execute(delete(StoredFile).where(StoredFile.id == file_id))
