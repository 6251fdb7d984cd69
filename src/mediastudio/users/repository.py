"""The only SQL that touches users and web sessions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.users.models import User, WebSession


async def add_user(session: AsyncSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user


async def get_user(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == email))
    return result.scalar_one_or_none()


async def users_of(session: AsyncSession, account_id: str) -> Sequence[User]:
    result = await session.execute(
        select(User).where(User.account_id == account_id).order_by(User.created_at, User.id)
    )
    return result.scalars().all()


async def add_session(session: AsyncSession, web_session: WebSession) -> WebSession:
    session.add(web_session)
    await session.flush()
    return web_session


async def session_with_user(
    session: AsyncSession, token_hash: str, now: datetime
) -> tuple[WebSession, User] | None:
    query = (
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == token_hash, WebSession.expires_at > now)
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


async def delete_session(session: AsyncSession, token_hash: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))


async def delete_sessions_of(
    session: AsyncSession, user_id: str, *, keep: str | None = None
) -> None:
    query = delete(WebSession).where(WebSession.user_id == user_id)
    if keep is not None:
        query = query.where(WebSession.token_hash != keep)
    await session.execute(query)


async def delete_expired(session: AsyncSession, now: datetime) -> None:
    await session.execute(delete(WebSession).where(WebSession.expires_at <= now))
