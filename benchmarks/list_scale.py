"""Listing generations with 1 k and with 1 M of them: is a page as fast either way?

    python benchmarks/list_scale.py [--sizes 1000,1000000] [--requests N] [--write-docs]

For each size, on a fresh data directory: the real app (``create_app``, no workers) makes its
database, an ``unlimited`` account and a sandbox key through the services the CLI uses; then
``size`` sandbox generations of that account are written straight into SQLite with one
``executemany`` (made here, not through the API: a million creates would take the benchmark
longer than the question), ids minted by ``kit.ids.new_id`` in creation order, statuses and
types mixed. Every size's app stays open in one process; then ``--requests`` requests of each
kind, one at a time, through ``httpx.ASGITransport``, in ten batches that alternate between the
sizes (so a machine whose load drifts weighs on both alike):

- the first page, ``GET /api/v1/generations?limit=20``;
- a deep page, ``?limit=20&starting_after=<the id in the middle>`` (cursor paging);
- a filtered first page, ``?limit=20&status=completed``, ``?limit=20&type=image`` and
  ``?limit=20&model=sandbox/video``;
- a lookup by the client's own id, ``?external_id=order-<n>`` (every row has one; the middle
  row's, so one row answers).

Prints the median and p99 ms per request for each size, the ratio largest / smallest, and
SQLite's query plan of each (``EXPLAIN QUERY PLAN``), which shows the index that serves it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from common import DOCS, cpu_model, write_section

SECTION_BEGIN = "<!-- BEGIN list_scale (written by benchmarks/list_scale.py) -->"
SECTION_END = "<!-- END list_scale -->"
BATCH = 20_000
ROUNDS = 10  # batches per request kind, alternating between the sizes
KINDS = (
    "first page",
    "deep cursor page",
    "status filter",
    "type filter",
    "model filter",
    "external_id lookup",
)
STATUSES = ("completed", "completed", "completed", "failed", "cancelled", "queued")
TYPES = ("image", "image", "video", "speech")


@dataclass(frozen=True)
class Timing:
    size: int
    kind: str
    median_ms: float
    p99_ms: float
    plan: str


async def make_key(app: Any) -> tuple[str, str]:
    from mediastudio.accounts import service as accounts
    from mediastudio.keys import service as keys

    platform = app.state.platform
    async with platform.db.write() as session:
        account = await accounts.create(
            session, platform.settings, email="list@local", plan="unlimited"
        )
        new = await keys.create(session, account, name="list", sandbox=True)
    return account.id, str(new.secret)


def fill(database: Path, account_id: str, size: int) -> list[str]:
    """``size`` sandbox generations of ``account_id``, oldest first; their ids in that order."""
    from mediastudio.kit.ids import new_id

    start = datetime(2026, 1, 1, tzinfo=UTC)
    columns = (
        "id, account_id, api_key_id, type, model, status, input, prompt, progress, outputs, "
        "credits_reserved, credits_charged, credits_refunded, sandbox, metadata, pool, attempts, "
        "created_at, external_id"
    )
    insert = f"INSERT INTO generations ({columns}) VALUES ({', '.join('?' * 19)})"
    ids: list[str] = []
    with sqlite3.connect(database) as connection:
        for offset in range(0, size, BATCH):
            rows = []
            for index in range(offset, min(size, offset + BATCH)):
                generation_id = new_id("gen")
                ids.append(generation_id)
                type_ = TYPES[index % len(TYPES)]
                created = (start + timedelta(seconds=index)).replace(tzinfo=None)
                rows.append(
                    (
                        generation_id,
                        account_id,
                        None,
                        type_,
                        f"sandbox/{type_}",
                        STATUSES[index % len(STATUSES)],
                        json.dumps({"prompt": f"row {index}"}),
                        f"row {index}",
                        100,
                        "[]",
                        0,
                        0,
                        0,
                        1,
                        "{}",
                        "cpu",
                        1,
                        created.isoformat(sep=" "),
                        f"order-{index}",
                    )
                )
            connection.executemany(insert, rows)
        connection.commit()
    return ids


def query_plan(database: Path, account_id: str, extra: str, params: tuple[Any, ...]) -> str:
    """SQLite's plan for the list query as the repository writes it (``page``)."""
    sql = (
        "SELECT * FROM generations WHERE account_id = ? AND sandbox IS 1"
        f"{extra} ORDER BY id DESC LIMIT 21 OFFSET 0"
    )
    with sqlite3.connect(database) as connection:
        rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}", (account_id, *params)).fetchall()
    return "; ".join(str(row[-1]) for row in rows)


async def time_requests(
    client: httpx.AsyncClient, url: str, count: int, expected: int = 20
) -> list[float]:
    """``count`` requests one after another; each one's seconds."""
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = await client.get(url)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200 or len(response.json()["data"]) != expected:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
    return latencies


@dataclass(frozen=True)
class Subject:
    """One size's server, its client and its requests, ready to be timed."""

    size: int
    client: httpx.AsyncClient
    cases: dict[str, tuple[str, str, tuple[Any, ...]]]
    database: Path
    account_id: str


async def open_subject(stack: AsyncExitStack, data_dir: Path, size: int) -> Subject:
    from mediastudio.app import create_app
    from mediastudio.settings import load_settings

    settings = load_settings(None, data_dir=data_dir, bootstrap=False, log_level="warning")
    app = create_app(settings, run_workers=False)
    await stack.enter_async_context(app.router.lifespan_context(app))
    account_id, key = await make_key(app)
    database = Path(app.state.platform.db.write_engine.url.database or "")
    started = time.perf_counter()
    ids = fill(database, account_id, size)
    print(f"{size} generations written in {time.perf_counter() - started:.1f} s")
    middle = ids[len(ids) // 2]
    cases = {
        "first page": ("/api/v1/generations?limit=20", "", ()),
        "deep cursor page": (
            f"/api/v1/generations?limit=20&starting_after={middle}",
            " AND id < ?",
            (middle,),
        ),
        "status filter": (
            "/api/v1/generations?limit=20&status=completed",
            " AND status = ?",
            ("completed",),
        ),
        "type filter": (
            "/api/v1/generations?limit=20&type=image",
            " AND type = ?",
            ("image",),
        ),
        "model filter": (
            "/api/v1/generations?limit=20&model=sandbox/video",
            " AND model = ?",
            ("sandbox/video",),
        ),
        "external_id lookup": (
            f"/api/v1/generations?limit=20&external_id=order-{len(ids) // 2}",
            " AND external_id = ?",
            (f"order-{len(ids) // 2}",),
        ),
    }
    client = await stack.enter_async_context(
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bench",
            headers={"Authorization": f"Bearer {key}"},
        )
    )
    return Subject(size, client, cases, database, account_id)


async def measure(data_dirs: list[Path], sizes: list[int], requests: int) -> list[Timing]:
    """Every size's server open at once in this process, the requests of each kind timed in
    ``ROUNDS`` batches that alternate between the sizes (and which one goes first), so that a
    drifting machine load weighs on every size alike rather than on whichever ran last."""
    async with AsyncExitStack() as stack:
        subjects = [
            await open_subject(stack, data_dir, size)
            for data_dir, size in zip(data_dirs, sizes, strict=True)
        ]
        latencies: dict[tuple[int, str], list[float]] = {}
        batch = max(1, requests // ROUNDS)
        for kind in KINDS:
            expected = 1 if kind == "external_id lookup" else 20
            for subject in subjects:  # warm each one's caches and statements
                await time_requests(subject.client, subject.cases[kind][0], 5, expected)
            for round_ in range(ROUNDS):
                for subject in subjects if round_ % 2 == 0 else subjects[::-1]:
                    url = subject.cases[kind][0]
                    latencies.setdefault((subject.size, kind), []).extend(
                        await time_requests(subject.client, url, batch, expected)
                    )
        timings = []
        for subject in subjects:
            for kind in KINDS:
                _url, extra, params = subject.cases[kind]
                times = latencies[(subject.size, kind)]
                cuts = statistics.quantiles(times, n=100, method="inclusive")
                plan = query_plan(subject.database, subject.account_id, extra, params)
                timings.append(
                    Timing(
                        subject.size, kind, statistics.median(times) * 1000, cuts[98] * 1000, plan
                    )
                )
    return timings


def table(timings: list[Timing], sizes: list[int]) -> str:
    lines = [
        "| request | "
        + " | ".join(f"{size:,} rows: median / p99 ms" for size in sizes)
        + f" | median {sizes[-1]:,} / {sizes[0]:,} |",
        "| --- | " + " | ".join("---:" for _ in sizes) + " | ---: |",
    ]
    for kind in KINDS:
        row = {t.size: t for t in timings if t.kind == kind}
        cells = " | ".join(f"{row[s].median_ms:.2f} / {row[s].p99_ms:.2f}" for s in sizes)
        ratio = row[sizes[-1]].median_ms / row[sizes[0]].median_ms
        lines.append(f"| {kind} | {cells} | {ratio:.2f}x |")
    return "\n".join(lines)


def plans(timings: list[Timing], size: int) -> str:
    return "\n".join(f"- {t.kind}: `{t.plan}`" for t in timings if t.size == size)


def section(timings: list[Timing], sizes: list[int], command: str) -> str:
    load = os.getloadavg()
    machine = (
        f"- Machine: {len(os.sched_getaffinity(0))} CPUs (`nproc`), {cpu_model()}; load "
        f"average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end"
    )
    return f"""{SECTION_BEGIN}
## Listing at scale

`GET /api/v1/generations` pages with {sizes[0]:,} and with {sizes[-1]:,} generations in the
account (sandbox; the rows written straight into SQLite by the script), in-process through
`httpx.ASGITransport`, one request at a time, no workers; both databases' apps open at once, the
requests of each kind timed in {ROUNDS} batches alternating between them.

- Command (repository root): `{command}`
- Date: {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
{machine}

{table(timings, sizes)}

SQLite's plans with {sizes[-1]:,} rows (the indexes are in `generations/models.py`):

{plans(timings, sizes[-1])}
{SECTION_END}
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,1000000", help="Generations, comma-separated")
    parser.add_argument("--requests", type=int, default=200, help="Timed requests per kind")
    parser.add_argument("--write-docs", action="store_true", help=f"Update {DOCS.name}")
    args = parser.parse_args(argv)
    sizes = sorted(int(size) for size in args.sizes.split(","))
    if len(sizes) < 2 or sizes[0] < 100 or args.requests < 2:
        parser.error("need two sizes of at least 100 rows and --requests >= 2")
    for name in [name for name in os.environ if name.startswith("MEDIASTUDIO_")]:
        del os.environ[name]
    with tempfile.TemporaryDirectory(prefix="mediastudio-list-") as tmp:
        data_dirs = [Path(tmp) / str(size) for size in sizes]
        timings = asyncio.run(measure(data_dirs, sizes, args.requests))
    command = shlex.join(["python", "benchmarks/list_scale.py", *argv])
    text = section(timings, sizes, command)
    print(text)
    if args.write_docs:
        write_section(DOCS, SECTION_BEGIN, SECTION_END, text, new_document="# Benchmarks\n")
        print(f"updated {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
