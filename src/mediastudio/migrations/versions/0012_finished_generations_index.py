"""finished generations index: what an event stream missed, read in completion order

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 15:20:00.000000

A live event stream that the bus cannot replay for (a restart, a Redis outage, a resume older
than the bus keeps) asks for the account's generations of its mode that finished after its last
event (docs/events.md, "Ids and resuming"): (account_id, sandbox, completed_at) reads them from
the index in completion order and stops after the cap.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_generations_account_id_sandbox_completed_at",
        "generations",
        ["account_id", "sandbox", "completed_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_generations_account_id_sandbox_completed_at", table_name="generations")
