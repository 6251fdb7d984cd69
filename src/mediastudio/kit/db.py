"""Database engine, sessions and the ORM base.

SQLite (the embedded default) allows one writer at a time. Rather than let many connections
fight over the write lock with busy-waits, write transactions go through a pool of exactly one
connection that opens each transaction with ``BEGIN IMMEDIATE``: writers queue in-process, in
order, and a conditional UPDATE can never be overtaken between its read and its write. Reads use
their own pool and, thanks to WAL, never wait for the writer. A read of one statement
(:meth:`Database.read_one`) goes through a third pool whose connections never open a transaction:
SQLite runs each statement against one snapshot on its own. SQLite URLs run on
kit/sqlite_driver.py: one round trip to aiosqlite's thread per statement, BEGIN sent with the
first one, no COMMIT or ROLLBACK sent when there is nothing to end.

PostgreSQL (asyncpg) uses one pool for both, of ``database_pool_size`` connections and no
overflow, so a deployment's connection count is known in advance (docs/deployment.md). Every
transaction runs at ``READ COMMITTED``, PostgreSQL's default, set explicitly because the money
paths rely on it: a conditional ``UPDATE … WHERE balance >= cost`` that waited on another
writer's row lock re-checks its WHERE against the committed row, and ``SELECT … FOR UPDATE``
(``accounts.lock``) serialises the writers of one account.

Sessions never commit inside services: :meth:`Database.write` commits at the boundary, then runs
the callbacks registered with :func:`after_commit` (e.g. handing a job to the dispatcher), so no
worker ever sees a row that does not exist yet.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, event, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from mediastudio.kit import sqlite_driver
from mediastudio.kit.changes import ChangeCounter, watch

logger = logging.getLogger("mediastudio.db")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")

AfterCommit = Callable[[], Awaitable[None] | None]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use kit.clock.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the current write transaction has committed; drop it on rollback."""
    session.info.setdefault("after_commit", []).append(callback)


class Database:
    """The two session factories every repository call goes through."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # Counts committed changes to watched columns (kit/changes.py); None where it cannot.
        self.changes: ChangeCounter | None = None
        if self.is_sqlite:
            self.write_engine = _sqlite_engine(url, immediate=True, pool_size=1, echo=echo)
            self.read_engine = _sqlite_engine(url, immediate=False, pool_size=8, echo=echo)
            self.read_one_engine = _sqlite_engine(url, autocommit=True, pool_size=8, echo=echo)
            path = self.write_engine.url.database
            if path and path != ":memory:" and not path.startswith("file:"):
                self.changes = ChangeCounter(Path(f"{path}-changes"))
                watch(self.write_engine.sync_engine, Base.metadata, self.changes.bump)
        else:
            engine = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=0,
                # A burst of requests queues for a connection rather than failing at once.
                pool_timeout=60,
                pool_pre_ping=True,
                isolation_level="READ COMMITTED",
                echo=echo,
            )
            self.write_engine = self.read_engine = self.read_one_engine = engine

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: commit on success, roll back on error, then after-commit hooks."""
        async with AsyncSession(self.write_engine, expire_on_commit=False) as session:
            async with session.begin():
                yield session
            callbacks: list[AfterCommit] = session.info.pop("after_commit", [])
        for callback in callbacks:
            # The transaction is committed: a failing hook must not make the caller believe it
            # was not. Hooks are hints (e.g. "a job is queued"); the sweeper repairs lost ones.
            try:
                result = callback()
                if result is not None:
                    await result
            except Exception:
                logger.exception("after-commit hook failed; the committed data stands")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with (
            AsyncSession(self.read_engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @asynccontextmanager
    async def read_one(self) -> AsyncIterator[AsyncSession]:
        """A session for exactly one read statement, e.g. a row by its key.

        On SQLite it runs outside any transaction (a single statement sees one consistent
        snapshot by itself, WAL or not), on connections that refuse writes: one round trip to
        aiosqlite's thread for a SELECT (kit/sqlite_driver.py), two with :meth:`read` (its
        COMMIT). A read of several statements that must
        agree with each other (a page and its count, a row and its children) uses :meth:`read`.
        On PostgreSQL this is :meth:`read`, one transaction as before."""
        if not self.is_sqlite:
            async with self.read() as session:
                yield session
            return
        # No begin(): the session's connection is in autocommit and emits no BEGIN (see
        # _sqlite_engine); closing it rolls back nothing (skip_autocommit_rollback).
        async with AsyncSession(self.read_one_engine, expire_on_commit=False) as session:
            yield session

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
        if self.read_one_engine is not self.write_engine:
            await self.read_one_engine.dispose()


def _sqlite_engine(
    url: str,
    *,
    pool_size: int,
    echo: bool,
    immediate: bool = False,
    autocommit: bool = False,
) -> AsyncEngine:
    """An engine whose transactions we begin ourselves (``BEGIN``, or ``BEGIN IMMEDIATE`` for
    the writer), or, with ``autocommit``, one that never begins any (for :meth:`Database.read_one`).

    ``sqlite+aiosqlite`` runs on kit/sqlite_driver.py, SQLAlchemy's aiosqlite dialect with one
    round trip to aiosqlite's thread per statement: the BEGIN named here is sent with the
    transaction's first statement, and COMMIT or ROLLBACK with nothing to end is no call at all.

    Why the autocommit engine is safe without transactions: its connections are never in one.
    sqlite3 begins none itself (``isolation_level = None`` below), the driver has no ``begin``
    to send, and ``PRAGMA query_only`` refuses any write. For such a connection sqlite3's
    ``rollback()`` does nothing at all (CPython checks ``sqlite3_get_autocommit`` first), so the
    pool's reset-on-return and the session's rollback on close are skipped
    (``skip_autocommit_rollback``; the driver would skip them too). A cancelled ``SELECT``'s
    statement is reset when its cursor is closed, in aiosqlite's thread, in the same call."""
    no_transactions: dict[str, Any] = (
        {"isolation_level": "AUTOCOMMIT", "skip_autocommit_rollback": True} if autocommit else {}
    )
    begin = None if autocommit else "BEGIN IMMEDIATE" if immediate else "BEGIN"
    engine = create_async_engine(
        _one_trip_driver(url),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=300,
        echo=echo,
        connect_args={"timeout": 30, "begin": begin},
        **no_transactions,
    )

    # SQLAlchemy's documented recipe: take transaction control away from the sqlite3 driver so
    # that BEGIN is emitted by us (by the driver, with ``begin``), and is IMMEDIATE on the writer.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA busy_timeout=30000",
            "PRAGMA foreign_keys=ON",
            *(("PRAGMA query_only=ON",) if autocommit else ()),
        ):
            cursor.execute(pragma)
        cursor.close()

    return engine


def _one_trip_driver(url: str) -> URL:
    """``sqlite+aiosqlite://…`` on the driver of kit/sqlite_driver.py; any other URL as is."""
    parsed = make_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        return parsed.set(drivername=f"sqlite+{sqlite_driver.DRIVER}")
    return parsed


def utc_day(session: AsyncSession, column: Any) -> Any:
    """A SQL expression for the UTC calendar day (``YYYY-MM-DD`` text) of a UTCDateTime column,
    for GROUP BY. SQLite stores naive UTC text; PostgreSQL's timestamptz would otherwise be cut
    at the session's time zone."""
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d", column)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
