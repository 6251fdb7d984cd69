"""The Alembic migrations build exactly the schema the ORM models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

import mediastudio.models  # noqa: F401
from mediastudio.kit.db import Base, Database
from mediastudio.migrations import upgrade


async def test_migrations_match_the_models(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await upgrade(db)
    await upgrade(db)  # idempotent

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    def tables(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    async with db.write_engine.connect() as connection:
        assert await connection.run_sync(differences) == []
        assert {
            "accounts",
            "api_keys",
            "credit_ledger",
            "generations",
        } <= await connection.run_sync(tables)
    await db.dispose()
