"""An account's custom voice: cloned at a provider from the account's own samples."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import Base, JSONType

CUSTOM_VOICE_PREFIX = "voice_"  # a speech input's ``voice`` that names a cloned voice


class VoiceStatus:
    """``training`` while the provider clones it (inside ``POST /voices``), ``ready`` once
    speech may use it, ``deleting`` after a DELETE whose provider call failed (unusable; a
    DELETE again finishes it)."""

    TRAINING = "training"
    READY = "ready"
    DELETING = "deleting"
    DELETED = "deleted"  # the tombstone: never shown by the API


class CustomVoice(Base):
    """``samples``: ``[{file_id, sha256, bytes, content_type, source}]`` — the files are the
    account's (deleted with the voice), the hashes stay with the row. ``consent``: ``{statement,
    api_key_id, given_at}``. A deleted voice keeps its row (``deleted_at``) as the record of
    what was cloned with whose consent; the API no longer sees it."""

    __tablename__ = "voices"
    __table_args__ = (
        Index("ix_voices_account_id_sandbox_id", "account_id", "sandbox", "id"),
        # The sweeper's: clonings left ``training`` by a process that died.
        Index("ix_voices_status_created_at", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    sandbox: Mapped[bool] = mapped_column()
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    language: Mapped[str | None] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(40))
    provider_voice_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    requires_verification: Mapped[bool] = mapped_column(default=False)
    samples: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    consent: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The cloning's price: reserved while ``training``, captured once ``ready``.
    credits: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column()
