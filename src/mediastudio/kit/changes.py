"""A change counter for rows that in-process caches copy, shared by every process of a database.

A cache in one process must learn at once that another process (the operator's CLI, a second
server on the same data directory) or this one changed a row it copied. With SQLite every such
process opens the same file, so next to it sits ``<database>-changes``, a file that grows by one
byte after each committed write touching a *watched column*: a cache compares its size, one
``stat`` call, with the size it saw when it read the rows. A grown file means "read again".

Which columns are watched is declared on the table, ``info={"watched": {...}}`` in the model's
``__table_args__``: an UPDATE setting one of them, or any DELETE from the table, counts. The
statements are recognised from the SQL SQLAlchemy sends (every write of this code base, and a
test's raw ``UPDATE``, goes through an engine that carries the listener).

The byte is written once the connection goes back to the pool, which is after its transaction
has committed: a reader who sees the old size may have read the old row (and will look again
once the size moves), but no reader can see the new size with the old row. A process that dies
between its commit and the append, or a full disk that refuses the byte, leaves other processes'
caches stale until their TTL (this process's own count is also kept in memory).

PostgreSQL deployments share no file: there :attr:`Database.changes` is ``None`` and caches
that depend on it stay off.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine

CONNECTION_FLAG = "mediastudio.watched_change"
logger = logging.getLogger("mediastudio.db")

_WRITE = re.compile(
    r"""^\s*(?:(?P<update>UPDATE)|DELETE\s+FROM)\s+"?(?P<table>\w+)"?(?:\s+SET\s+(?P<set>.*?)(?:\s+WHERE\b|\s+RETURNING\b|$))?""",
    re.IGNORECASE | re.DOTALL,
)


class ChangeCounter:
    """The ``<database>-changes`` file: its size is the count of watched changes so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # This process's own changes, counted in memory too: on a full disk the append fails,
        # and this process's caches must still see its own writes (others' catch up by TTL).
        self.local = 0
        try:
            path.touch(exist_ok=True)
        except OSError as exc:  # a full disk: the first bump that finds room creates it
            logger.warning("cannot create %s: %s", path, exc)

    def version(self) -> tuple[int, int]:
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            size = -1  # removed under us: every reader reads again, the next bump recreates it
        return size, self.local

    def bump(self) -> None:
        self.local += 1
        try:
            # O_APPEND: concurrent appends from several processes each add their byte.
            with open(self.path, "ab") as counter:
                counter.write(b".")
        except OSError as exc:
            logger.warning(
                "change not counted in %s (%s): other processes' caches catch up within their TTL",
                self.path,
                exc,
            )


def touches_watched(statement: str, metadata: MetaData) -> bool:
    """Whether ``statement`` updates a watched column of a table, or deletes from one."""
    match = _WRITE.match(statement)
    if match is None:
        return False
    table = metadata.tables.get(match.group("table"))
    watched: frozenset[str] | None = table.info.get("watched") if table is not None else None
    if not watched:
        return False
    if match.group("update") is None:
        return True  # a DELETE
    assignments = match.group("set") or ""
    columns = {part.split("=", 1)[0].strip().strip('"') for part in assignments.split(",")}
    return bool(columns & watched)


def watch(engine: Engine, metadata: MetaData, on_change: Callable[[], None]) -> None:
    """Call ``on_change`` after each transaction of ``engine`` that changed a watched column."""

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if touches_watched(statement, metadata):
            conn.info[CONNECTION_FLAG] = True

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        # Checked in = its transaction is over (committed, or rolled back: then the bump only
        # costs the caches one extra read).
        if record is not None and record.info.pop(CONNECTION_FLAG, False):
            on_change()
