"""Alembic migrations, run programmatically by ``serve`` and ``mediastudio migrate``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from mediastudio.kit.db import Database

MIGRATIONS_DIR = Path(__file__).parent
# pg_advisory_xact_lock's key: any constant of our own, the same in every process. (The
# letters of "mediastud" as a number, a 64-bit signed value.)
MIGRATION_LOCK_KEY = 0x6D65646961737475


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def upgrade(db: Database, revision: str = "head") -> None:
    def _upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with db.write_engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several API processes and workers of a deployment start at once, each migrating:
            # the first takes this lock for its transaction (DDL included), the others wait,
            # then find the schema at head and do nothing. Without it, two upgrades of a new
            # database raced to create the same tables and one process failed to start.
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        await connection.run_sync(_upgrade)
