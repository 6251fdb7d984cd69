"""The Alembic migrations build exactly the schema the ORM models describe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

import mediastudio.models  # noqa: F401
from mediastudio.kit.db import Base, Database
from mediastudio.migrations import alembic_config, upgrade
from tests.deployment import child_env
from tests.postgres import PostgresServer


@pytest.mark.databases
async def test_migrations_match_the_models(blank_database_url: str) -> None:
    """Every migration applies to an empty database, on SQLite and on PostgreSQL alike."""
    db = Database(blank_database_url)
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


async def test_0005_gives_existing_deliveries_the_mode_of_their_generation(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await upgrade(db, "0003")
    now = "2026-01-01 00:00:00.000000"
    async with db.write_engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO accounts (id, email, name, plan, credit_balance, credits_reserved,"
                " created_at) VALUES ('acc_1', 'a@x.io', '', 'free', 0, 0, :now)"
            ),
            {"now": now},
        )
        for generation_id, sandbox in (("gen_live", 0), ("gen_test", 1)):
            await connection.execute(
                text(
                    "INSERT INTO generations (id, account_id, type, model, status, input,"
                    " progress, outputs, credits_reserved, credits_charged, credits_refunded,"
                    " sandbox, metadata, pool, attempts, created_at) VALUES (:id, 'acc_1',"
                    " 'image', 'm', 'completed', '{}', 100, '[]', 0, 0, 0, :sandbox, '{}',"
                    " 'cpu', 1, :now)"
                ),
                {"id": generation_id, "sandbox": sandbox, "now": now},
            )
        for delivery_id, generation_id in (
            ("whd_live", "gen_live"),
            ("whd_test", "gen_test"),
            ("whd_ping", None),  # a webhook.test event
            ("whd_gone", "gen_deleted"),
        ):
            await connection.execute(
                text(
                    "INSERT INTO webhook_deliveries (id, account_id, url, target, generation_id,"
                    " event_id, event_type, payload, status, attempts, attempt_log, created_at)"
                    " VALUES (:id, 'acc_1', 'https://x.io', 't', :generation_id, 'evt_1', 'e',"
                    " '{}', 'succeeded', 1, '[]', :now)"
                ),
                {"id": delivery_id, "generation_id": generation_id, "now": now},
            )
    await upgrade(db)
    async with db.write_engine.connect() as connection:
        rows = await connection.execute(text("SELECT id, sandbox FROM webhook_deliveries"))
        modes = {row.id: bool(row.sandbox) for row in rows}
    assert modes == {"whd_live": False, "whd_test": True, "whd_ping": False, "whd_gone": False}
    await db.dispose()


async def test_0011_keeps_existing_endpoints_on_mediastudios_payload(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await upgrade(db, "0010")
    now = "2026-01-01 00:00:00.000000"
    async with db.write_engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO accounts (id, email, name, plan, credit_balance, credits_reserved,"
                " created_at) VALUES ('acc_1', 'a@x.io', '', 'free', 0, 0, :now)"
            ),
            {"now": now},
        )
        await connection.execute(
            text(
                "INSERT INTO webhook_endpoints (id, account_id, url, events, description,"
                " is_default, secret, enabled, created_at, updated_at) VALUES ('whk_1', 'acc_1',"
                " 'https://x.io', '[]', '', 1, 'whsec_x', 1, :now, :now)"
            ),
            {"now": now},
        )
    await upgrade(db)
    async with db.write_engine.connect() as connection:
        rows = await connection.execute(text("SELECT id, payload_format FROM webhook_endpoints"))
        assert {row.id: row.payload_format for row in rows} == {"whk_1": "mediastudio"}
    await db.dispose()


async def test_processes_starting_together_on_a_new_postgresql_database_all_migrate_it(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """A deployment's API processes and workers start at once and each runs the migrations:
    four ``mediastudio migrate`` processes on one new database all succeed (one migrates, the
    others wait for its lock and find the schema at head)."""
    postgres_server.require()
    name, url = postgres_server.create(migrated=False)
    mediastudio = Path(sys.executable).with_name("mediastudio")
    starting: list[subprocess.Popen[str]] = []
    try:
        for n in range(4):
            starting.append(
                subprocess.Popen(
                    [str(mediastudio), "migrate", "--data-dir", str(tmp_path / f"data{n}")],
                    env=child_env({"MEDIASTUDIO_DATABASE_URL": url}),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        # A deadline only so that a lock-up fails the test instead of hanging the suite.
        outputs = [process.communicate(timeout=120)[0] for process in starting]
        assert [process.returncode for process in starting] == [0] * 4, outputs
        db = Database(url)
        try:
            async with db.write_engine.connect() as connection:
                versions = (await connection.execute(text("SELECT * FROM alembic_version"))).all()
        finally:
            await db.dispose()
        heads = ScriptDirectory.from_config(alembic_config()).get_heads()
        assert [row[0] for row in versions] == heads
    finally:
        for process in starting:
            process.kill()
        postgres_server.drop(name)
