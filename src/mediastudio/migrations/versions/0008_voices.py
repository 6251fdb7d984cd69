"""custom voices

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 03:30:00.000000

``POST /api/v1/voices`` clones a voice from the account's samples (per account and mode); the
row keeps the consent given and the samples' hashes, also after the voice is deleted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mediastudio.kit.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("api_key_id", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("provider_voice_id", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requires_verification", sa.Boolean(), nullable=False),
        sa.Column(
            "samples",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "consent",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("created_at", mediastudio.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", mediastudio.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_voices_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voices")),
    )
    op.create_index("ix_voices_account_id_sandbox_id", "voices", ["account_id", "sandbox", "id"])
    op.create_index("ix_voices_status_created_at", "voices", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_voices_status_created_at", table_name="voices")
    op.drop_index("ix_voices_account_id_sandbox_id", table_name="voices")
    op.drop_table("voices")
