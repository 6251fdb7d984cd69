"""generation checkpoints and provider

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:00:00.000000

A job run by a hosted provider stores the provider's job id before it waits on it, so that a
restarted worker resumes polling that job instead of submitting (and paying for) it again:
``generations.checkpoint`` holds what an engine remembered (``RunContext.remember``), and
``generations.provider`` names the provider that served the job.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("generations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkpoint", JSON, nullable=True))
        batch_op.add_column(sa.Column("provider", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("generations", schema=None) as batch_op:
        batch_op.drop_column("provider")
        batch_op.drop_column("checkpoint")
