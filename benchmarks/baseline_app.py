"""The baseline for ``api_throughput.py``: a bare FastAPI app, one SQLite statement per request.

It runs exactly like ``mediastudio serve`` (``uvicorn.run`` of an app object, one process, the
same uvicorn with its default uvloop + httptools, ``proxy_headers=True``, log level ``warning``)
and talks to SQLite exactly like MediaStudio's ``kit/db.py`` (SQLAlchemy async + aiosqlite, WAL,
``synchronous=NORMAL``, one writer connection that begins with ``BEGIN IMMEDIATE``, a separate
read pool), and freezes its start-up objects out of the garbage collector as ``serve`` does,
so the difference between the two servers is MediaStudio's own work per request.

    python benchmarks/baseline_app.py --port 8001 --db /tmp/baseline.db

``POST /insert`` parses the same JSON body as the benchmark's create request into a small
pydantic model, inserts one row and answers ``{"id": …}``; ``GET /row/{id}`` reads one row by
primary key.
"""

from __future__ import annotations

import argparse
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

metadata = MetaData()
rows = Table(
    "rows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prompt", String(2000), nullable=False),
    Column("output_format", String(8), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
)

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
)


class NewRow(BaseModel):
    prompt: str
    output_format: str = "png"
    width: int = 256
    height: int = 256


def sqlite_engine(url: str, *, immediate: bool, pool_size: int) -> AsyncEngine:
    """The same engine set-up as ``mediastudio.kit.db._sqlite_engine``."""
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=0, pool_timeout=300, connect_args={"timeout": 30}
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def create_app(db_path: Path) -> FastAPI:
    url = f"sqlite+aiosqlite:///{db_path.resolve()}"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        writer = sqlite_engine(url, immediate=True, pool_size=1)
        reader = sqlite_engine(url, immediate=False, pool_size=8)
        async with writer.begin() as connection:
            await connection.run_sync(metadata.create_all)
        app.state.writer, app.state.reader = writer, reader
        # As ``mediastudio serve`` does (app.py, freeze_startup_objects): start-up's objects
        # out of the collector's reach, so a full collection does not walk them under load.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await writer.dispose()
            await reader.dispose()

    app = FastAPI(title="baseline", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.post("/insert")
    async def insert_row(body: NewRow, request: Request) -> dict[str, int]:
        writer: AsyncEngine = request.app.state.writer
        async with writer.begin() as connection:
            result = await connection.execute(
                insert(rows)
                .values(**body.model_dump(), created_at=datetime.now(UTC).isoformat())
                .returning(rows.c.id)
            )
            row_id = int(result.scalar_one())
        return {"id": row_id}

    @app.get("/row/{row_id}")
    async def read_row(row_id: int, request: Request) -> dict[str, Any]:
        reader: AsyncEngine = request.app.state.reader
        async with reader.begin() as connection:
            row = (await connection.execute(select(rows).where(rows.c.id == row_id))).one_or_none()
        if row is None:
            raise HTTPException(404, f"no row {row_id}")
        return dict(row._mapping)

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True, help="SQLite file (created)")
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.db),
        host=args.host,
        port=args.port,
        log_level="warning",
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
