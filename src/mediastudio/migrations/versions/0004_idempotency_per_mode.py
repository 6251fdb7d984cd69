"""idempotency keys per account and mode

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:58:00.000000

An Idempotency-Key sent with a live key and the same one sent with a sandbox key of the same
account are two different keys (as Stripe keeps test and live apart). The mode joins the primary
key; records written before this revision take the mode of the generation they stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None, recreate="always") as batch_op:
        batch_op.add_column(
            sa.Column("sandbox", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.drop_constraint("pk_idempotency_keys", type_="primary")
        batch_op.create_primary_key("pk_idempotency_keys", ["account_id", "sandbox", "key"])
    _backfill_sandbox_records()


def _backfill_sandbox_records() -> None:
    """A stored response names its generation: a sandbox generation makes a sandbox record."""
    records = sa.table(
        "idempotency_keys",
        sa.column("account_id", sa.String),
        sa.column("key", sa.String),
        sa.column("sandbox", sa.Boolean),
        sa.column("response_body", sa.JSON),
    )
    generations = sa.table("generations", sa.column("id", sa.String), sa.column("sandbox"))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(records.c.account_id, records.c.key, records.c.response_body)
    ).all()
    for account_id, key, body in rows:
        generation_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(generation_id, str):
            continue
        sandbox = connection.execute(
            sa.select(generations.c.sandbox).where(generations.c.id == generation_id)
        ).scalar()
        if sandbox:
            connection.execute(
                records.update()
                .where(records.c.account_id == account_id, records.c.key == key)
                .values(sandbox=True)
            )


def downgrade() -> None:
    # Two records that differ only by mode cannot both survive the narrower key.
    op.execute(sa.text("DELETE FROM idempotency_keys WHERE sandbox"))
    with op.batch_alter_table("idempotency_keys", schema=None, recreate="always") as batch_op:
        batch_op.drop_constraint("pk_idempotency_keys", type_="primary")
        batch_op.create_primary_key("pk_idempotency_keys", ["account_id", "key"])
        batch_op.drop_column("sandbox")
