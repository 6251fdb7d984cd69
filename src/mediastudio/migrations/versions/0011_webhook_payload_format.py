"""webhook endpoints' payload format

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 11:10:00.000000

``webhook_endpoints.payload_format`` says which body an endpoint's deliveries carry:
``mediastudio`` (the native event, every endpoint made so far) or ``seed001`` (seed 001's
``job.completed`` / ``job.failed``, for an endpoint set through its ``PATCH /api/settings``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "payload_format",
                sa.String(length=16),
                nullable=False,
                server_default="mediastudio",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_column("payload_format")
