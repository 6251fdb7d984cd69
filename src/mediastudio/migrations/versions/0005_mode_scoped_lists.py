"""mode-scoped lists: webhook deliveries carry their mode; generations indexed by type

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 10:00:00.000000

(0004 is the idempotency migration on another branch: when both are merged, this one revises
0004.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sandbox", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Existing deliveries take the mode of their generation; a test event or a delivery whose
    # generation was deleted stays live, as every delivery was shown to live keys until now.
    op.execute(
        "UPDATE webhook_deliveries SET sandbox = ("
        "SELECT generations.sandbox FROM generations "
        "WHERE generations.id = webhook_deliveries.generation_id) "
        "WHERE generation_id IN (SELECT id FROM generations)"
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_endpoint_id_id")
        batch_op.create_index(
            "ix_webhook_deliveries_endpoint_id_sandbox_id",
            ["endpoint_id", "sandbox", "id"],
            unique=False,
        )
    with op.batch_alter_table("generations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_generations_account_id_sandbox_type_id",
            ["account_id", "sandbox", "type", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("generations", schema=None) as batch_op:
        batch_op.drop_index("ix_generations_account_id_sandbox_type_id")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_endpoint_id_sandbox_id")
        batch_op.create_index(
            "ix_webhook_deliveries_endpoint_id_id", ["endpoint_id", "id"], unique=False
        )
        batch_op.drop_column("sandbox")
