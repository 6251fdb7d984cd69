"""The transaction boundary: commit, then after-commit hooks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

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
        assert db.read_one_engine is db.write_engine  # read_one is read() on PostgreSQL
        async with db.read_one() as session:
            assert session.in_transaction()
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await db.dispose()
        postgres_server.drop(name)


async def test_read_one_sees_each_commit_and_cannot_write(tmp_path: Path) -> None:
    """SQLite's read_one runs outside a transaction: never a stale snapshot, never a write."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
        for expected in range(1, 4):
            async with db.write() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
            async with db.read_one() as session:
                count = (await session.execute(text("SELECT count(*) FROM t"))).scalar_one()
                assert count == expected
                assert not await _sqlite_in_transaction(session)
        async with db.read_one() as session:
            with pytest.raises(OperationalError, match="readonly"):
                await session.execute(text("INSERT INTO t VALUES (2)"))
        async with db.read() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 3
    finally:
        await db.dispose()


async def test_a_cancelled_read_one_leaves_no_snapshot_behind(tmp_path: Path) -> None:
    """A request cancelled anywhere in its statement (queued in aiosqlite's thread, running, or
    fetching) returns its connection to the pool without the rollback; the next read on that
    connection (sequential reads reuse one) still sees every commit made since."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")

    async def count() -> int:
        async with db.read_one() as session:
            return int((await session.execute(text("SELECT count(*) FROM t"))).scalar_one())

    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
        for rows, yields in enumerate(range(12), start=1):
            task = asyncio.create_task(count())
            for _ in range(yields):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            async with db.write() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
            assert await count() == rows
    finally:
        await db.dispose()


async def _sqlite_in_transaction(session: AsyncSession) -> bool:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return bool(raw.driver_connection.in_transaction)  # type: ignore[union-attr]
