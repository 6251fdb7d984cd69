"""credit grant tokens: an operator's Grant form grants once

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 02:10:00.000000

Each Grant form of the operator pages carries a one-time token; the first post records it with
the ledger row it wrote, so a replayed form (double submit, back and resubmit) answers with
that row and grants nothing more (docs/dashboard.md, "Operator pages").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mediastudio.kit.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_grant_tokens",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("ledger_entry_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", mediastudio.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_credit_grant_tokens_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_credit_grant_tokens")),
    )


def downgrade() -> None:
    op.drop_table("credit_grant_tokens")
