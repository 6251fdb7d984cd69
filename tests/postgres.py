"""Fresh PostgreSQL databases for tests, one per test, in a fraction of a second each.

Migrating a database costs seconds; copying one does not. So each test session (each xdist
worker) migrates ONE template database, and every test that runs on PostgreSQL gets
``CREATE DATABASE … TEMPLATE <template>``, dropped when it ends. The names carry the process id,
so that several sessions on one server never meet, and a session that finds databases left by a
process that is gone (a killed run) drops them.

The server is ``MEDIASTUDIO_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``,
the trust-auth server of the development machine and of CI). When it cannot be reached the
PostgreSQL variants skip with the reason, except under ``CI=true``, where they fail: CI has the
server, so its absence is a broken CI, not a reason to test less.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import os
import re
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from sqlalchemy.engine import make_url

T = TypeVar("T")

ADMIN_URL = os.environ.get(
    "MEDIASTUDIO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PREFIX = "mstest_"
_OWN = re.compile(rf"^{PREFIX}(\d+)_")


def _in_thread(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on its own loop in its own thread: fixtures here are
    synchronous and must not touch the event loop pytest-asyncio runs the test on."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(work()))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def asyncpg_dsn(database_url: str) -> str:
    """A SQLAlchemy ``postgresql+asyncpg://`` URL (a setting's) as asyncpg's own DSN."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://")


async def fetch_row(database_url: str, sql: str, *params: Any) -> tuple[Any, ...] | None:
    """One row straight from a PostgreSQL database, read by its own connection; ``sql`` takes
    asyncpg's ``$1`` placeholders."""
    import asyncpg

    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        record = await connection.fetchrow(sql, *params)
    finally:
        await connection.close()
    return None if record is None else tuple(record)


class PostgresServer:
    """The test server: a template migrated once, and throwaway copies of it."""

    def __init__(self, admin_url: str = ADMIN_URL) -> None:
        url = make_url(admin_url)
        self.admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.base = url.set(drivername="postgresql+asyncpg")
        self.where = f"{url.host or 'localhost'}:{url.port or 5432}"
        self.template = f"{PREFIX}{os.getpid()}_template"
        self._names = itertools.count(1)
        self.error: str | None = None
        self._ready = False

    def url(self, database: str) -> str:
        return self.base.set(database=database).render_as_string(hide_password=False)

    async def _admin(self, *statements: str) -> list[str]:
        import asyncpg

        connection = await asyncpg.connect(self.admin_dsn, timeout=5)
        try:
            names = [
                row["datname"]
                for row in await connection.fetch(
                    "SELECT datname FROM pg_database WHERE datname LIKE $1", PREFIX + "%"
                )
            ]
            for statement in statements:
                await connection.execute(statement)
            return names
        finally:
            await connection.close()

    def require(self) -> None:
        """Make the template on first use; skip (or, under CI, fail) if there is no server."""
        if not self._ready and self.error is None:
            try:
                self._prepare()
                self._ready = True
            except Exception as exc:  # OSError, asyncpg's errors, a timeout
                self.error = f"PostgreSQL is not reachable at {self.where}: {exc!r}"
        if self.error is not None:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(self.error, pytrace=False)
            pytest.skip(self.error)

    def _prepare(self) -> None:
        existing = _in_thread(self._admin)
        stale = [
            name
            for name in existing
            if ((match := _OWN.match(name)) and not _alive(int(match[1]))) or name == self.template
        ]
        _in_thread(
            lambda: self._admin(
                *(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in stale),
                f'CREATE DATABASE "{self.template}"',
            )
        )
        _in_thread(lambda: _migrate(self.url(self.template)))

    def create(self, *, migrated: bool = True) -> tuple[str, str]:
        """A fresh database, migrated or empty (for migration tests): its name and its URL."""
        self.require()
        name = f"{PREFIX}{os.getpid()}_{next(self._names)}"
        template = self.template if migrated else "template0"
        _in_thread(lambda: self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        return name, self.url(name)

    def drop(self, name: str) -> None:
        _in_thread(lambda: self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        if self._ready:
            self.drop(self.template)
            self._ready = False


_shared: list[PostgresServer] = []


def shared_postgres() -> PostgresServer:
    """This process's one server object: one template and one name counter for every fixture
    and deployment of the session (two objects would make, and drop, the same template)."""
    if not _shared:
        _shared.append(PostgresServer())
        atexit.register(_shared[0].close)
    return _shared[0]


async def _migrate(url: str) -> None:
    from mediastudio.kit.db import Database
    from mediastudio.migrations import upgrade

    db = Database(url, pool_size=1)
    try:
        await upgrade(db)
    finally:
        await db.dispose()
