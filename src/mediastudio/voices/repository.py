"""The only SQL of custom voices. Every query is scoped by account and mode; deleted voices
are invisible to all but :func:`get_any`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.voices.models import CustomVoice, VoiceStatus


async def add(session: AsyncSession, voice: CustomVoice) -> CustomVoice:
    session.add(voice)
    await session.flush()
    return voice


async def get(
    session: AsyncSession, account_id: str, voice_id: str, *, sandbox: bool
) -> CustomVoice | None:
    query = select(CustomVoice).where(
        CustomVoice.id == voice_id,
        CustomVoice.account_id == account_id,
        CustomVoice.sandbox == sandbox,
        CustomVoice.deleted_at.is_(None),
    )
    return (await session.execute(query)).scalar_one_or_none()


async def get_any(session: AsyncSession, voice_id: str) -> CustomVoice | None:
    """The row whatever its state (deleted ones too): for tests and audits."""
    return await session.get(CustomVoice, voice_id)


async def list_all(
    session: AsyncSession, account_id: str, *, sandbox: bool
) -> Sequence[CustomVoice]:
    query = (
        select(CustomVoice)
        .where(
            CustomVoice.account_id == account_id,
            CustomVoice.sandbox == sandbox,
            CustomVoice.deleted_at.is_(None),
        )
        .order_by(CustomVoice.id.desc())
    )
    return (await session.execute(query)).scalars().all()


async def training_before(session: AsyncSession, before: datetime) -> Sequence[CustomVoice]:
    """Voices still being cloned since before ``before`` (the sweeper's)."""
    query = select(CustomVoice).where(
        CustomVoice.status == VoiceStatus.TRAINING, CustomVoice.created_at < before
    )
    return (await session.execute(query)).scalars().all()


async def set_values(session: AsyncSession, voice_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(CustomVoice).where(CustomVoice.id == voice_id).values(**values))


async def remove(session: AsyncSession, voice_id: str) -> None:
    """Forget a voice that never came to be (its cloning failed, refunded)."""
    await session.execute(delete(CustomVoice).where(CustomVoice.id == voice_id))
