"""chat conversations and messages

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 12:00:00.000000

``POST /api/v1/chat`` stores each conversation (per account and mode) and its messages, so a
``conversation_id`` continues it; the daily chat quota counts an account's user messages.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mediastudio.kit.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_conversations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("created_at", mediastudio.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mediastudio.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_chat_conversations_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_conversations")),
    )
    op.create_index(
        "ix_chat_conversations_account_id_sandbox_id",
        "chat_conversations",
        ["account_id", "sandbox", "id"],
    )
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("created_at", mediastudio.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_chat_messages_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["chat_conversations.id"],
            name=op.f("fk_chat_messages_conversation_id_chat_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
    )
    op.create_index(
        "ix_chat_messages_conversation_id_position",
        "chat_messages",
        ["conversation_id", "position"],
    )
    op.create_index(
        "ix_chat_messages_account_id_role_created_at",
        "chat_messages",
        ["account_id", "role", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_chat_messages_account_id_role_created_at", table_name="chat_messages")
    op.drop_index("ix_chat_messages_conversation_id_position", table_name="chat_messages")
    op.drop_table("chat_messages")
    op.drop_index("ix_chat_conversations_account_id_sandbox_id", table_name="chat_conversations")
    op.drop_table("chat_conversations")
