"""The only SQL of chat."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.chat.models import ChatMessageRow, Conversation


async def conversation(
    session: AsyncSession, account_id: str, sandbox: bool, conversation_id: str
) -> Conversation | None:
    found = await session.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id,
            Conversation.account_id == account_id,
            Conversation.sandbox == sandbox,
        )
    )
    return found


async def messages(
    session: AsyncSession, conversation_id: str, *, answered_only: bool, limit: int | None = None
) -> Sequence[ChatMessageRow]:
    """The conversation's messages in order; with ``limit``, the latest ``limit`` of them.
    ``answered_only``: those the history is made of (a partial reply was seen by its reader)."""
    query = select(ChatMessageRow).where(ChatMessageRow.conversation_id == conversation_id)
    if answered_only:
        query = query.where(ChatMessageRow.status.in_(("answered", "partial")))
    if limit is None:
        return (await session.scalars(query.order_by(ChatMessageRow.position))).all()
    latest = (
        await session.scalars(query.order_by(ChatMessageRow.position.desc()).limit(limit))
    ).all()
    return list(reversed(latest))


async def user_messages_since(session: AsyncSession, account_id: str, since: datetime) -> int:
    """Live user messages since ``since`` that were answered or are being answered."""
    count = await session.scalar(
        select(func.count())
        .select_from(ChatMessageRow)
        .where(
            ChatMessageRow.account_id == account_id,
            ChatMessageRow.role == "user",
            ChatMessageRow.created_at >= since,
            ChatMessageRow.sandbox.is_(False),
            ChatMessageRow.status != "failed",
        )
    )
    return int(count or 0)


async def next_position(session: AsyncSession, conversation_id: str) -> int:
    last = await session.scalar(
        select(func.max(ChatMessageRow.position)).where(
            ChatMessageRow.conversation_id == conversation_id
        )
    )
    return 0 if last is None else int(last) + 1


async def message(session: AsyncSession, message_id: str) -> ChatMessageRow | None:
    return await session.get(ChatMessageRow, message_id)


def add(session: AsyncSession, *rows: Conversation | ChatMessageRow) -> None:
    session.add_all(rows)


async def pending_before(session: AsyncSession, before: datetime) -> Sequence[ChatMessageRow]:
    """User messages still awaiting their answer since before ``before`` (the sweeper's)."""
    result = await session.execute(
        select(ChatMessageRow).where(
            ChatMessageRow.role == "user",
            ChatMessageRow.status == "pending",
            ChatMessageRow.created_at < before,
        )
    )
    return result.scalars().all()
