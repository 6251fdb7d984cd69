"""Where a MediaStudio create, read and list request spends its CPU: an in-process profile.

    python benchmarks/profile_request_path.py [--requests N] [--write-docs]

Builds the real app (``create_app``) on a fresh data directory, without workers so that only the
request path is measured (the created jobs stay queued), makes an ``unlimited`` account and a
sandbox key through the same services the CLI uses, and sends ``--requests`` creates
(``POST /api/v1/generate/image``, the body of ``api_throughput.py``), then as many reads of them
and as many lists (``GET /api/v1/generations``, the first page), one at a time, through
``httpx.ASGITransport`` under ``cProfile``. No sockets and no uvicorn: what is left is
middleware, FastAPI, MediaStudio, SQLAlchemy and aiosqlite, on uvloop.

Prints, per request: process CPU (all threads, and the event loop's thread alone) and wall time,
the SQL statements run, the event-loop thread's CPU by library, the functions with the most CPU
of their own, and MediaStudio's functions by cumulative CPU. The
cProfile file is saved under ``benchmarks/results/`` (open it with ``python -m pstats`` or
snakeviz). aiosqlite runs SQLite in a thread of its own, which cProfile does not see: the SQL
itself shows up only in the process CPU, not in the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import platform
import pstats
import re
import shlex
import sys
import tempfile
import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from common import CREATE_BODY, DOCS, RESULTS, ROOT, cpu_model, write_section

WARMUP = 50
TOP = 15
SQL_WIDTH = 90
SECTION_BEGIN = (
    "<!-- BEGIN request_path_profile (written by benchmarks/profile_request_path.py) -->"
)
SECTION_END = "<!-- END request_path_profile -->"

CLIENT = "the in-process client (httpx, this script)"
# Where a function lives, by the first path fragment that matches; order matters.
AREAS = (
    ("/mediastudio/", "mediastudio"),
    ("/fastapi/", "fastapi"),
    ("/starlette/", "starlette"),
    ("/pydantic/", "pydantic"),
    ("/pydantic_core/", "pydantic"),
    ("/sqlalchemy/", "sqlalchemy"),
    ("/aiosqlite/", "aiosqlite"),
    ("/httpx/", CLIENT),
    ("/httpcore/", CLIENT),
    # httpx's ASGITransport tries `import sniffio` on every request (absent here): the import
    # machinery runs for the client only (the server imports nothing per request).
    ("<frozen importlib.", CLIENT),
    ("/anyio/", "anyio"),
    ("/asyncio/", "asyncio"),
    ("/json/", "json"),
)


@dataclass(frozen=True)
class Options:
    requests: int
    write_docs: bool
    command: str


@dataclass(frozen=True)
class Phase:
    """One profiled batch of requests."""

    name: str
    requests: int
    cpu_ms: float  # the process, all threads
    main_cpu_ms: float  # the event loop's thread
    wall_ms: float
    statements: Counter[str]
    stats: pstats.Stats


class SqlCounter:
    """Counts the SQL statements and commits both of the app's engines run."""

    def __init__(self, engines: list[Any]) -> None:
        self.seen: Counter[str] = Counter()
        for engine in engines:
            event.listen(engine.sync_engine, "before_cursor_execute", self._statement)
            event.listen(engine.sync_engine, "commit", self._commit)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.seen[" ".join(statement.split())[:SQL_WIDTH]] += 1

    def _commit(self, _conn: Any) -> None:
        self.seen["COMMIT"] += 1

    def take(self) -> Counter[str]:
        taken, self.seen = self.seen, Counter()
        return taken


def parse_options(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="Profiled requests per phase")
    parser.add_argument("--write-docs", action="store_true", help=f"Update {DOCS.name}")
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    command = shlex.join(["python", "benchmarks/profile_request_path.py", *argv])
    return Options(args.requests, args.write_docs, command)


# --- Running the app in-process --------------------------------------------------------------


async def sandbox_key(app: Any) -> str:
    """An ``unlimited`` account and a sandbox key, through the services the CLI calls."""
    from mediastudio.accounts import service as accounts
    from mediastudio.keys import service as keys

    platform_ = app.state.platform
    async with platform_.db.write() as session:
        account = await accounts.create(
            session, platform_.settings, email="bench@local", plan="unlimited"
        )
        new = await keys.create(session, account, name="bench", sandbox=True)
    return str(new.secret)


async def repeat(count: int, send: Callable[[int], Awaitable[httpx.Response]], expect: int) -> None:
    for index in range(count):
        response = await send(index)
        if response.status_code != expect:
            raise RuntimeError(f"expected {expect}, got {response.status_code}: {response.text}")


async def profiled(
    name: str,
    count: int,
    send: Callable[[int], Awaitable[httpx.Response]],
    expect: int,
    sql: SqlCounter,
) -> Phase:
    """``count`` requests timed without a profiler (process CPU, the event loop thread's CPU,
    wall), then ``count`` more under cProfile, which uses the wall clock: a CPU clock costs a
    system call per event on Linux and would distort the profile far more."""
    sql.take()
    cpu, main, wall = time.process_time(), time.thread_time(), time.perf_counter()
    await repeat(count, send, expect)
    cpu, main = time.process_time() - cpu, time.thread_time() - main
    wall = time.perf_counter() - wall
    statements = sql.take()
    profiler = cProfile.Profile()
    profiler.enable()
    await repeat(count, send, expect)
    profiler.disable()
    return Phase(
        name=name,
        requests=count,
        cpu_ms=1000 * cpu / count,
        main_cpu_ms=1000 * main / count,
        wall_ms=1000 * wall / count,
        statements=statements,
        stats=pstats.Stats(profiler),
    )


async def profile_app(data_dir: Path, requests: int) -> list[Phase]:
    from mediastudio.app import create_app
    from mediastudio.settings import load_settings

    settings = load_settings(None, data_dir=data_dir, bootstrap=False, log_level="warning")
    app = create_app(settings, run_workers=False)
    async with app.router.lifespan_context(app):
        key = await sandbox_key(app)
        db = app.state.platform.db
        # On SQLite, Database.read_one() has an engine of its own.
        engines = (db.write_engine, db.read_engine, db.read_one_engine)
        sql = SqlCounter(list({id(engine): engine for engine in engines}.values()))
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=headers
        ) as client:
            ids: list[str] = []

            async def create(_: int) -> httpx.Response:
                response = await client.post("/api/v1/generate/image", json=CREATE_BODY)
                ids.append(response.json()["id"])
                return response

            async def read(index: int) -> httpx.Response:
                return await client.get(f"/api/v1/generations/{ids[index % len(ids)]}")

            async def list_(_: int) -> httpx.Response:
                # The first page, the default limit (20 rows rendered).
                return await client.get("/api/v1/generations")

            await repeat(WARMUP, create, 202)
            await repeat(WARMUP, read, 200)
            await repeat(WARMUP, list_, 200)
            return [
                await profiled("create", requests, create, 202, sql),
                await profiled("read", requests, read, 200, sql),
                await profiled("list", requests, list_, 200, sql),
            ]


# --- Reading the profile ---------------------------------------------------------------------

StatKey = tuple[str, int, str]


def area_of(key: StatKey) -> str:
    filename = key[0]
    if filename == __file__:
        return CLIENT
    for fragment, area in AREAS:
        if fragment in filename:
            return area
    if filename == "~":
        return "builtins (C functions)"
    return "other (stdlib, uvloop…)"


def stat_rows(stats: pstats.Stats) -> dict[StatKey, tuple[int, int, float, float]]:
    rows: dict[StatKey, tuple[int, int, float, float]] = {
        key: (cc, nc, tt, ct)
        for key, (cc, nc, tt, ct, _callers) in stats.stats.items()  # type: ignore[attr-defined]
    }
    return rows


def by_area(phase: Phase) -> list[tuple[str, float]]:
    """Own time by library, a C function's time counted to the library that called it."""
    totals: dict[str, float] = defaultdict(float)
    raw: dict[StatKey, Any] = phase.stats.stats  # type: ignore[attr-defined]
    for key, (_cc, _nc, own, _cum, callers) in raw.items():
        if key[0] == "~" and callers:
            for caller, (_ccc, _cnc, caller_own, _ccum) in callers.items():
                totals[area_of(caller)] += caller_own
        else:
            totals[area_of(key)] += own
    per_request = {area: 1000 * seconds / phase.requests for area, seconds in totals.items()}
    return sorted(per_request.items(), key=lambda item: -item[1])


def area_table(phase: Phase) -> str:
    """By library, with each one's share of the server's time (the client left out)."""
    rows = by_area(phase)
    server_total = sum(ms for area, ms in rows if area != CLIENT)
    lines = [
        "| event-loop thread time of its own, by library (C calls counted to the caller's) "
        "| ms/request | share of the server's |",
        "| --- | ---: | ---: |",
    ]
    for area, ms in rows:
        share = "" if area == CLIENT else f"{100 * ms / server_total:.0f}%"
        lines.append(f"| {area} | {ms:.3f} | {share} |")
    return "\n".join(lines)


def label(key: StatKey) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    short = re.sub(r"^.*/(site-packages|src|lib/python3\.\d+)/", "", filename)
    return f"{name} ({short}:{line})"


def top(
    phase: Phase, column: int, interesting: Callable[[StatKey], bool]
) -> list[tuple[str, float]]:
    """The TOP functions by own time (column 2) or cumulative time (column 3), ms per request."""
    rows = [(key, row[column]) for key, row in stat_rows(phase.stats).items() if interesting(key)]
    rows.sort(key=lambda item: -item[1])
    return [(label(key), 1000 * seconds / phase.requests) for key, seconds in rows[:TOP]]


def server_side(key: StatKey) -> bool:
    """Functions of the server's request path: not the in-process client nor the profiler."""
    return area_of(key) not in (CLIENT, "anyio") and "profiler" not in key[2]


def mediastudio_steps(key: StatKey) -> bool:
    """MediaStudio's functions, without the ASGI middlewares (which wrap everything)."""
    return area_of(key) == "mediastudio" and key[2] != "__call__"


def table(rows: list[tuple[str, float]], heading: str) -> str:
    lines = [f"| {heading} | ms/request |", "| --- | ---: |"]
    lines += [f"| `{name}` | {ms:.3f} |" for name, ms in rows]
    return "\n".join(lines)


def sql_table(phase: Phase) -> str:
    lines = ["| SQL statement (both engines) | per request |", "| --- | ---: |"]
    for statement, count in phase.statements.most_common():
        lines.append(f"| `{statement}` | {count / phase.requests:.2f} |")
    return "\n".join(lines)


def calls_per_request(phase: Phase) -> tuple[float, float]:
    """Function calls on the server's side, and the round trips to aiosqlite's thread (each a
    ``put_nowait`` on its queue), per request: counts, so the same on a busy machine as on an
    idle one, which makes them the figures to compare two versions of the code by."""
    rows = stat_rows(phase.stats)
    calls = sum(row[1] for key, row in rows.items() if server_side(key))
    trips = sum(
        row[1]
        for key, row in rows.items()
        if key[2].endswith("'put_nowait' of '_queue.SimpleQueue' objects>")
    )
    return calls / phase.requests, trips / phase.requests


def phase_report(phase: Phase) -> str:
    others = phase.cpu_ms - phase.main_cpu_ms
    calls, trips = calls_per_request(phase)
    return "\n\n".join(
        [
            f"#### {phase.name} ({phase.requests} requests, one at a time)",
            f"Counted (steady whatever the machine's load): {calls:.0f} Python function calls on "
            f"the server's side and {trips:.1f} round trips to aiosqlite's thread per request.",
            textwrap.fill(
                f"Without the profiler, per request: {phase.cpu_ms:.2f} ms of process CPU, of "
                f"which {phase.main_cpu_ms:.2f} ms on the event loop's thread and {others:.2f} ms "
                f"in other threads (aiosqlite's: the SQL itself); {phase.wall_ms:.2f} ms wall. "
                "The tables below are from a second, profiled batch (wall-clock times, profiler "
                "overhead included).",
                width=100,
            ),
            sql_table(phase),
            area_table(phase),
            table(top(phase, 2, server_side), "functions with the most time of their own"),
            table(top(phase, 3, mediastudio_steps), "MediaStudio functions, cumulative time"),
        ]
    )


# --- Output ----------------------------------------------------------------------------------


def machine_line() -> str:
    return (
        f"{len(os.sched_getaffinity(0))} CPUs (`nproc`), {cpu_model()}, "
        f"Python {platform.python_version()}"
    )


def section(phases: list[Phase], options: Options, profile_files: list[Path]) -> str:
    saved = ", ".join(f"`{path.relative_to(ROOT)}`" for path in profile_files)
    body = "\n\n".join(phase_report(phase) for phase in phases)
    return f"""{SECTION_BEGIN}
## API request path profile

Where the time of one create, one read and one list goes inside the server: the real app
in-process on uvloop, no workers (jobs stay queued), no sockets or uvicorn, requests one at a
time. First a batch timed without a profiler, then one under cProfile (wall clock; it slows
Python code down, so compare shares rather than absolute times with "API throughput"). SQLite
runs in aiosqlite's thread, which cProfile does not see, nor the event loop's own C code
(uvloop). Coroutines are counted while they run, not while they wait, and SQLAlchemy's greenlets
blur the cumulative figures: trust the "of its own" tables most; the outermost coroutines' own
time also absorbs the event loop's work between their steps. Absolute times vary a lot on a
shared machine; the shares by library are the stable part.

- Command (repository root): `{options.command}`
- Date: {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
- Machine: {machine_line()}
- Raw profiles (not committed): {saved}

{body}
{SECTION_END}
"""


def write_docs(text: str, path: Path) -> None:
    write_section(path, SECTION_BEGIN, SECTION_END, text, new_document="# Benchmarks\n")


def save(phases: list[Phase]) -> list[Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    paths = []
    for phase in phases:
        path = RESULTS / f"profile-{phase.name}-{stamp}.prof"
        phase.stats.dump_stats(path)
        paths.append(path)
    return paths


def uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop, as uvicorn uses when it is installed."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str]) -> int:
    options = parse_options(argv)
    for name in [name for name in os.environ if name.startswith("MEDIASTUDIO_")]:
        del os.environ[name]  # the defaults, whatever the caller's environment says
    with (
        tempfile.TemporaryDirectory(prefix="mediastudio-profile-") as tmp,
        asyncio.Runner(loop_factory=uvloop_factory()) as runner,
    ):
        phases = runner.run(profile_app(Path(tmp), options.requests))
    text = section(phases, options, save(phases))
    print(text)
    if options.write_docs:
        write_docs(text, DOCS)
        print(f"updated {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
