"""list filter indexes: every filter of the generations list served in cursor order

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 08:00:00.000000

``GET /api/v1/generations?status=|model=|external_id=`` each get an index (account_id, sandbox,
<filter>, id), so a page is read newest first from the index and stops after limit + 1 rows
rather than checking the account's rows one by one until enough match. The (account_id,
external_id) index, used only by that filter, is replaced by its mode-scoped successor.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_generations_account_id_sandbox_status_id",
        "generations",
        ["account_id", "sandbox", "status", "id"],
    )
    op.create_index(
        "ix_generations_account_id_sandbox_model_id",
        "generations",
        ["account_id", "sandbox", "model", "id"],
    )
    op.create_index(
        "ix_generations_account_id_sandbox_external_id_id",
        "generations",
        ["account_id", "sandbox", "external_id", "id"],
    )
    op.drop_index("ix_generations_account_id_external_id", table_name="generations")


def downgrade() -> None:
    op.create_index(
        "ix_generations_account_id_external_id", "generations", ["account_id", "external_id"]
    )
    op.drop_index("ix_generations_account_id_sandbox_external_id_id", table_name="generations")
    op.drop_index("ix_generations_account_id_sandbox_model_id", table_name="generations")
    op.drop_index("ix_generations_account_id_sandbox_status_id", table_name="generations")
