"""kit/sqlite_driver.py: one round trip per statement, with every guarantee of the dialect's own.

Each test runs the real ``Database`` on a SQLite file, as the server does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.util import greenlet_spawn

from mediastudio.kit import sqlite_driver
from mediastudio.kit.db import Database


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the calls sent to aiosqlite's thread, in order."""
    sent: list[str] = []
    real = sqlite_driver.OneTripConnection._call

    def counted(self: Any, function: Any, *args: Any) -> Any:
        sent.append(function.__name__)
        return real(self, function, *args)

    monkeypatch.setattr(sqlite_driver.OneTripConnection, "_call", counted)
    yield sent


async def _database(path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.write() as session:
        await session.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY, v INTEGER)"))
        await session.execute(text("INSERT INTO t VALUES (0, 0)"))
    return db


async def _rows(db: Database) -> list[tuple[int, int]]:
    async with db.read_one() as session:
        result = await session.execute(text("SELECT x, v FROM t ORDER BY x"))
        return [(int(x), int(v)) for x, v in result.all()]


async def test_a_transaction_is_one_trip_per_statement_and_one_to_commit(
    tmp_path: Path, trips: list[str]
) -> None:
    db = await _database(tmp_path / "d.db")
    try:
        await _rows(db)  # the read-one pool's connection opened (its PRAGMAs) beforehand
        trips.clear()
        async with db.write() as session:
            await session.execute(text("INSERT INTO t VALUES (1, 1)"))
        assert trips == ["_statement", "_commit"]  # BEGIN IMMEDIATE rode with the INSERT
        trips.clear()
        async with db.read_one() as session:
            await session.execute(text("SELECT count(*) FROM t"))
        assert trips == ["_statement"]  # no transaction: nothing to commit or roll back
        trips.clear()
        async with db.write():
            pass
        assert trips == []  # a transaction that ran nothing never began
    finally:
        await db.dispose()


async def test_commit_persists_for_another_database(tmp_path: Path) -> None:
    db = await _database(tmp_path / "d.db")
    async with db.write() as session:
        await session.execute(text("INSERT INTO t VALUES (1, 10)"))
    await db.dispose()
    again = Database(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    try:
        assert await _rows(again) == [(0, 0), (1, 10)]
    finally:
        await again.dispose()


async def test_rollback_really_rolls_back(tmp_path: Path, trips: list[str]) -> None:
    db = await _database(tmp_path / "d.db")
    try:
        trips.clear()
        with pytest.raises(RuntimeError):
            async with db.write() as session:
                await session.execute(text("INSERT INTO t VALUES (1, 1)"))
                await session.execute(text("UPDATE t SET v = 5 WHERE x = 0"))
                raise RuntimeError("the request failed")
        assert trips[-1] == "_rollback"  # a transaction was open: a real ROLLBACK
        assert await _rows(db) == [(0, 0)]
        async with db.write() as session:  # the single writer connection is usable
            await session.execute(text("INSERT INTO t VALUES (2, 2)"))
        assert await _rows(db) == [(0, 0), (2, 2)]
    finally:
        await db.dispose()


async def test_errors_surface_as_sqlalchemy_exceptions_and_end_the_transaction(
    tmp_path: Path,
) -> None:
    db = await _database(tmp_path / "d.db")
    try:
        with pytest.raises(IntegrityError, match="UNIQUE constraint failed"):
            async with db.write() as session:
                await session.execute(text("INSERT INTO t VALUES (1, 1)"))
                await session.execute(text("INSERT INTO t VALUES (0, 1)"))
        with pytest.raises(OperationalError, match="no such table"):
            async with db.read() as session:
                await session.execute(text("SELECT * FROM missing"))
        with pytest.raises(OperationalError, match="readonly"):
            async with db.read_one() as session:
                await session.execute(text("INSERT INTO t VALUES (3, 3)"))
        assert await _rows(db) == [(0, 0)]  # the first INSERT went with its transaction
        async with db.write() as session:
            await session.execute(text("INSERT INTO t VALUES (1, 1)"))
        assert await _rows(db) == [(0, 0), (1, 1)]
    finally:
        await db.dispose()


async def test_a_write_transaction_is_atomic_under_two_concurrent_writers(tmp_path: Path) -> None:
    """Two databases on one file (two writer connections, as two server processes have), each
    incrementing a counter by reading it and writing it back with the loop yielding between:
    BEGIN IMMEDIATE, sent with the SELECT, takes the write lock before the read, so no
    increment is lost and none fails."""
    first = await _database(tmp_path / "d.db")
    second = Database(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")

    async def increment(db: Database) -> None:
        async with db.write() as session:
            value = (await session.execute(text("SELECT v FROM t WHERE x = 0"))).scalar_one()
            for _ in range(3):
                await asyncio.sleep(0)
            await session.execute(text("UPDATE t SET v = :v WHERE x = 0"), {"v": value + 1})

    try:
        await asyncio.gather(*(increment(db) for _ in range(25) for db in (first, second)))
        assert await _rows(first) == [(0, 50)]
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_cancelled_statement_leaves_the_connection_usable(tmp_path: Path) -> None:
    """A write cancelled anywhere (waiting for the connection, queued in aiosqlite's thread,
    running, committing) is all or nothing, and the single writer connection still works."""
    db = await _database(tmp_path / "d.db")

    async def write(x: int) -> None:
        async with db.write() as session:
            await session.execute(text("INSERT INTO t VALUES (:x, 1)"), {"x": x})
            await session.execute(text("UPDATE t SET v = v + 1 WHERE x = 0"))

    try:
        for yields in range(16):
            task = asyncio.create_task(write(100 + yields))
            for _ in range(yields):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await write(yields + 1)
            rows = dict(await _rows(db))
            inserted = len(rows) - 1
            assert rows[0] == inserted  # each committed write did both of its statements
            assert yields + 1 in rows
    finally:
        await db.dispose()


async def test_an_autocommit_read_sees_commits_made_elsewhere(tmp_path: Path) -> None:
    reader = await _database(tmp_path / "d.db")
    writer = Database(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    try:
        for value in range(1, 4):
            async with writer.write() as session:
                await session.execute(text("UPDATE t SET v = :v WHERE x = 0"), {"v": value})
            assert await _rows(reader) == [(0, value)]
    finally:
        await reader.dispose()
        await writer.dispose()


async def test_many_rows_and_streamed_results_stay_in_the_transaction(tmp_path: Path) -> None:
    db = await _database(tmp_path / "d.db")
    try:
        with pytest.raises(RuntimeError):
            async with db.write() as session:
                result = await session.execute(
                    text("INSERT INTO t VALUES (:x, :v)"),
                    [{"x": x, "v": x} for x in range(1, 6)],
                )
                assert result.rowcount == 5  # type: ignore[attr-defined]
                # A server-side cursor (stream) takes SQLAlchemy's own path; it must still see
                # this transaction's rows.
                streamed = await session.stream(text("SELECT x FROM t ORDER BY x"))
                assert [x async for (x,) in streamed] == [0, 1, 2, 3, 4, 5]
                raise RuntimeError("undo")
        assert await _rows(db) == [(0, 0)]
    finally:
        await db.dispose()


async def test_a_rollback_behind_a_cancelled_statement_still_rolls_back(tmp_path: Path) -> None:
    """The driver's own guard, below SQLAlchemy: a statement cancelled while still queued in
    aiosqlite's thread will yet run (and BEGIN with it); the ROLLBACK that follows must not be
    skipped on the grounds that no transaction is open *yet*."""
    db = await _database(tmp_path / "d.db")
    release = threading.Event()
    try:
        async with db.write_engine.connect() as connection:
            raw = (await connection.get_raw_connection()).dbapi_connection
            assert isinstance(raw, sqlite_driver.OneTripConnection)
            # Hold aiosqlite's thread so the next calls queue behind this one.
            raw._connection._tx.put_nowait((None, lambda: release.wait(30)))
            raw.note_begin()
            statement = asyncio.create_task(
                greenlet_spawn(raw.cursor().execute, "INSERT INTO t VALUES (1, 1)")
            )
            await asyncio.sleep(0)
            statement.cancel()
            await asyncio.gather(statement, return_exceptions=True)
            rollback = asyncio.create_task(greenlet_spawn(raw.rollback))
            await asyncio.sleep(0)
            release.set()
            await rollback
            in_transaction = await greenlet_spawn(raw._call, lambda sqlite: sqlite.in_transaction)
            assert in_transaction is False
        assert await _rows(db) == [(0, 0)]
    finally:
        release.set()
        await db.dispose()
