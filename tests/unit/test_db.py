"""The transaction boundary: commit, then after-commit hooks."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from mediastudio.kit.db import Database, after_commit
from tests.postgres import PostgresServer


async def test_a_failing_after_commit_hook_does_not_undo_or_hide_the_commit(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("queue is gone")

    async with db.write() as session:
        await session.execute(text("CREATE TABLE t (x INTEGER)"))
        await session.execute(text("INSERT INTO t VALUES (1)"))
        after_commit(session, broken)
        after_commit(session, lambda: ran.append("second"))
    assert ran == ["second"]
    async with db.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
    await db.dispose()


async def test_postgresql_gets_one_sized_read_committed_pool(
    postgres_server: PostgresServer,
) -> None:
    name, url = postgres_server.create()
    db = Database(url, pool_size=4)
    try:
        assert db.read_engine is db.write_engine
        pool = db.write_engine.pool
        assert (pool.size(), pool.overflow()) == (4, -4)  # QueuePool: overflow starts at -size
        async with db.write() as session:
            isolation = await session.scalar(text("SHOW transaction_isolation"))
        assert isolation == "read committed"
        assert db.changes is None  # no shared file: caches that need it stay off
    finally:
        await db.dispose()
        postgres_server.drop(name)
