"""SQLAlchemy's aiosqlite dialect with one round trip to aiosqlite's thread per statement.

aiosqlite runs every sqlite3 call in a thread of its own; each call is a round trip between the
event loop and that thread (a queue put, a thread switch, a future resolved through
``call_soon_threadsafe``). SQLAlchemy's adapter makes several per statement: a cursor, the
statement, its fetch, the cursor's close, plus ``BEGIN`` as a statement of its own, ``COMMIT``,
and the pool's rollback when the connection is returned. A create cost 8 of them, a read 4 and a
list 9 (docs/benchmarks.md, "The request path, fourth slice"). This adapter keeps the dialect
and changes only how the DBAPI calls reach the thread:

- **A statement is one call**: cursor, execute, fetch of every row (the adapter buffered them all
  anyway), ``description``/``rowcount``/``lastrowid`` and the cursor's close run together in
  aiosqlite's thread; the cursor the dialect holds is a plain object holding the results.
- **BEGIN rides with the first statement**: the dialect's ``do_begin`` only notes the
  ``BEGIN`` (``BEGIN IMMEDIATE`` on the writer, see kit/db.py), and the transaction's first
  statement sends it in the same call. A transaction that runs no statement never begins.
- **COMMIT and ROLLBACK are skipped when there is nothing to end**: when no transaction is open
  and no call of this connection is still queued or running in the thread, sqlite3's own
  ``commit()``/``rollback()`` would do nothing (CPython checks ``sqlite3_get_autocommit``
  first), so we make no call at all. The state is read in the event loop's thread only once the
  thread has finished every call this connection sent (each call marks itself finished as its
  last step in that thread), so a statement still queued by a cancelled task, which may yet open
  a transaction, always gets a real ``ROLLBACK`` queued behind it.

What stays the same: the SQL, its order on the connection, the exceptions (sqlite3's, wrapped by
SQLAlchemy as before), ``BEGIN IMMEDIATE`` taken before the transaction's first statement runs,
and server-side cursors (``stream_results``), which keep SQLAlchemy's own cursor after the noted
``BEGIN`` is sent on its own. A task cancelled while its statement waits or runs: SQLAlchemy
invalidates the connection (an exit exception), as it did. Calls other than statements (the
``isolation_level`` setter, ``create_function``) are only made when a connection is opened and
keep the dialect's own path.

Selected with the URL ``sqlite+mediastudio_aiosqlite://`` (kit/db.py rewrites
``sqlite+aiosqlite://`` to it); ``begin`` in ``connect_args`` names the statement that opens a
transaction (none: the connection never opens one, e.g. the autocommit pool).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util.concurrency import await_

DRIVER = "mediastudio_aiosqlite"

Results = tuple[Any, int, Any, list[Any] | None]


class _Call:
    """One call sent to aiosqlite's thread; ``finished`` is set there, as its last step."""

    __slots__ = ("finished",)

    def __init__(self) -> None:
        self.finished = False


def _statement(
    connection: Any, begin: str | None, operation: str, parameters: Any, many: bool
) -> Results:
    """Runs in aiosqlite's thread: the noted BEGIN, the statement and everything SQLAlchemy
    will read from its cursor."""
    if begin is not None:
        connection.execute(begin)
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneTripCursor:
    """The DBAPI cursor the dialect sees: a statement's results, fetched in the same call."""

    __slots__ = ("_connection", "_rows", "arraysize", "description", "lastrowid", "rowcount")

    server_side = False

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._rows: deque[Any] = deque()
        self.arraysize = 1
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: Any = None

    def execute(self, operation: str, parameters: Any = None) -> None:
        self._take(self._connection.run_statement(operation, parameters, many=False))

    def executemany(self, operation: str, seq_of_parameters: Sequence[Any]) -> None:
        self._take(self._connection.run_statement(operation, seq_of_parameters, many=True))

    def _take(self, results: Results) -> None:
        self.description, self.rowcount, self.lastrowid, rows = results
        self._rows = deque(rows) if rows else deque()

    async def _async_soft_close(self) -> None:
        """Nothing to close: the sqlite3 cursor was closed in the statement's own call."""

    def close(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows
        count = min(self.arraysize if size is None else size, len(rows))
        return [rows.popleft() for _ in range(count)]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """aiosqlite's SQLAlchemy adapter, a statement per round trip (see the module's docstring)."""

    __slots__ = ("_begin", "_begin_sql", "_last")

    def __init__(self, dbapi: Any, connection: Any, begin_sql: str | None) -> None:
        super().__init__(dbapi, connection)
        self._begin_sql = begin_sql  # what opens a transaction here; None: never one
        self._begin: str | None = None  # noted by do_begin, sent with the next statement
        self._last: _Call | None = None  # the latest call sent to aiosqlite's thread

    def cursor(self, server_side: bool = False) -> Any:
        if server_side:
            # SQLAlchemy's own cursor, whose calls do not carry the BEGIN: send it first.
            self._send_begin()
            return super().cursor(server_side=True)
        return OneTripCursor(self)

    def note_begin(self) -> None:
        self._begin = self._begin_sql

    def run_statement(self, operation: str, parameters: Any, *, many: bool) -> Results:
        begin, self._begin = self._begin, None
        results: Results = self._call(_statement, begin, operation, parameters, many)
        return results

    def commit(self) -> None:
        self._begin = None  # noted but never sent: no statement ran, no transaction to end
        if not self._nothing_to_end():
            self._call(_commit)

    def rollback(self) -> None:
        self._begin = None
        if not self._nothing_to_end():
            self._call(_rollback)

    def _send_begin(self) -> None:
        begin, self._begin = self._begin, None
        if begin is not None:
            self._call(_execute, begin)

    def _nothing_to_end(self) -> bool:
        """True when COMMIT or ROLLBACK would do nothing: every call this connection sent has
        finished in aiosqlite's thread (so none can still open a transaction) and none is open.
        Also True for a closed connection, as the dialect's own adapter skips those."""
        sqlite = self._connection._connection
        if sqlite is None:
            return True
        last = self._last
        return (last is None or last.finished) and not sqlite.in_transaction

    def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(sqlite3 connection, *args)`` in aiosqlite's thread, awaited: one round
        trip. Errors come back as the dialect's adapter raises them."""
        connection = self._connection
        call = _Call()

        def run() -> Any:
            try:
                return function(connection._conn, *args)
            finally:
                call.finished = True

        try:
            if not connection._running or connection._connection is None:
                raise ValueError("Connection closed")
            future = asyncio.get_event_loop().create_future()
            self._last = call
            connection._tx.put_nowait((future, run))
            return await_(future)
        except Exception as error:
            self._handle_exception(error)


def _execute(connection: Any, statement: str) -> None:
    connection.execute(statement)


def _commit(connection: Any) -> None:
    connection.commit()


def _rollback(connection: Any) -> None:
    connection.rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        begin = kw.pop("begin", None)
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection, begin)


class OneTripSQLiteDialect(SQLiteDialect_aiosqlite):
    """SQLAlchemy's aiosqlite dialect on :class:`OneTripConnection`."""

    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> OneTripDBAPI:
        return OneTripDBAPI(__import__("aiosqlite"), __import__("sqlite3"))

    def do_begin(self, dbapi_connection: Any) -> None:
        # Called with the pool's proxy of the connection; BEGIN is noted, not sent (see above).
        getattr(dbapi_connection, "dbapi_connection", dbapi_connection).note_begin()


registry.register(f"sqlite.{DRIVER}", __name__, "OneTripSQLiteDialect")
