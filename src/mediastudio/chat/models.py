"""Conversations and their messages. A user message is also the unit of the daily chat quota
and of the credit ledger (its id is the ledger rows' ``generation_id``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import Base


class Conversation(Base):
    __tablename__ = "chat_conversations"
    __table_args__ = (
        Index("ix_chat_conversations_account_id_sandbox_id", "account_id", "sandbox", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    sandbox: Mapped[bool] = mapped_column()
    model: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatMessageRow(Base):
    """``status``: a user message is ``pending`` while its answer is awaited, then ``answered``
    or ``failed``; an assistant's or a seeded history message is ``answered``, or ``partial``
    for a streamed reply its client left before the end (what it had received)."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("ix_chat_messages_conversation_id_position", "conversation_id", "position"),
        # The daily quota counts one account's user messages since midnight.
        Index("ix_chat_messages_account_id_role_created_at", "account_id", "role", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("chat_conversations.id", ondelete="CASCADE")
    )
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    sandbox: Mapped[bool] = mapped_column()
    # The order within the conversation: ids made in one millisecond do not sort by time.
    position: Mapped[int] = mapped_column()
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(200))
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    credits: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
