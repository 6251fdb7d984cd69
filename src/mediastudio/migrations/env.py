"""Alembic environment: always handed a live connection by mediastudio.migrations.upgrade()."""

from __future__ import annotations

from alembic import context

import mediastudio.models  # noqa: F401  (registers every table on Base.metadata)
from mediastudio.kit.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `mediastudio migrate`, which supplies a connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
