"""API throughput: MediaStudio's create and read requests against a bare FastAPI + SQLite baseline.

    python benchmarks/api_throughput.py [--requests N] [--concurrency C] [--write-docs]
    python benchmarks/api_throughput.py --open-loop-rate R[,R2...] [--duration S] [--write-docs]

Starts two servers as subprocesses on this machine, in the same run:

- MediaStudio itself, ``python -m mediastudio serve`` on a fresh data directory, with an account on
  the ``unlimited`` plan (no rate limits, quotas or concurrency cap) and a sandbox key, both made
  with the ``mediastudio`` CLI beforehand;
- the baseline, ``benchmarks/baseline_app.py``: one FastAPI endpoint doing one SQLite INSERT and
  one reading a row by primary key, served and configured the same way (see its docstring).

Then drives both with ``httpx.AsyncClient`` at a bounded concurrency: a warm-up that is not
counted, then ``--requests`` requests per scenario, split into ``--rounds`` rounds that alternate
which server goes first, so slow drifts of a shared machine hit both sides alike. Scenarios:

- create: ``POST /api/v1/generate/image`` (must answer 202) against ``POST /insert``;
- read: ``GET /api/v1/generations/{id}`` of the jobs just created against ``GET /row/{id}``.

The sandbox jobs created also run in MediaStudio's in-process workers (256x256 PNGs) while the
create rounds run; after each MediaStudio create round the benchmark waits until no job is queued
or processing, so the next measurement starts on an idle server. Reports requests/s, p50/p99
latency, server and client CPU per request, and the MediaStudio / baseline ratios; prints a
Markdown table, saves the raw figures under ``benchmarks/results/`` and, with ``--write-docs``,
updates the "API throughput" section of ``docs/benchmarks.md``. A run in which any request got an
unexpected status is reported as invalid (exit status 1) and writes no docs.

Open-loop mode (``--open-loop-rate``): instead of a fixed number of connections that each wait
for their answer before sending again (a closed loop, which slows down with the server and so
hides its stalls), requests are sent at a constant offered rate, one every 1/R s whatever the
answers, each on its own, for ``--duration`` seconds per scenario, server and rate. A request's
latency is counted from the time it was *scheduled* to be sent, not from when it was sent: if
the client or the server falls behind, the wait counts (no coordinated omission). For each rate
(several, comma-separated, make a sweep) it runs MediaStudio then the baseline for creates,
drains MediaStudio's jobs, then both for reads of what was created; it reports p50/p90/p99/max,
errors, the rate achieved and server CPU per request, and the lowest rate at which MediaStudio's
p99 reached 50 ms. ``--write-docs`` then updates the "API latency at a fixed offered rate"
section of ``docs/benchmarks.md``.

``--postgres ADMIN_DSN`` runs MediaStudio on a PostgreSQL database of its own, created through
``ADMIN_DSN`` (a role that may ``CREATE DATABASE``) and dropped at the end; the baseline stays on
SQLite, so MediaStudio's ratio on each database is against the same baseline. It writes no docs:
its figures go into docs/benchmarks.md by hand, with the command.

Both servers, their data and the temporary directory are removed on exit, Ctrl-C included.
``MEDIASTUDIO_*`` variables of the calling environment are not passed on, for reproducibility.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from common import (
    CREATE_BODY,
    DOCS,
    RESULTS,
    ROOT,
    clean_environment,
    cpu_model,
    free_port,
    mediastudio_cli,
    write_section,
)

BASELINE_APP = ROOT / "benchmarks" / "baseline_app.py"

MEDIASTUDIO = "MediaStudio"
BASELINE = "baseline"
BENCH_EMAIL = "bench@local"
READY_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 20.0
REQUEST_TIMEOUT_S = 60.0
HISTORY_ROWS = 10

SECTION_BEGIN = "<!-- BEGIN api_throughput (written by benchmarks/api_throughput.py) -->"
SECTION_END = "<!-- END api_throughput -->"
HISTORY_BEGIN = "<!-- BEGIN api_throughput history -->"
HISTORY_END = "<!-- END api_throughput history -->"

INTRO = """# Benchmarks

Every figure in this file comes with the command that produced it, the machine it ran on and the
date; rerun the command to check it. The figures so far come from a shared, noisy 2-core
machine, so absolute numbers move from run to run: the figures to compare are the ratios
against a baseline measured on the same machine in the same run.

Each benchmark owns one section, delimited by HTML comments, which its script rewrites; add a
new benchmark as a new section rather than editing another one.
"""


# --- Options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    requests: int
    concurrency: int
    warmup: int
    rounds: int
    write_docs: bool
    docs: Path
    command: str
    open_loop_rates: tuple[float, ...] = ()
    duration_s: float = 60.0
    no_jobs: bool = False
    postgres: str | None = None
    settings: tuple[tuple[str, str], ...] = ()


def setting_pair(text: str) -> tuple[str, str]:
    """``--setting``'s ``NAME=VALUE``."""
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError("takes NAME=VALUE, e.g. creates_in_flight=8")
    return name, value


def parse_options(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="Measured requests/scenario")
    parser.add_argument("--concurrency", type=int, default=16, help="Requests in flight")
    parser.add_argument("--warmup", type=int, default=100, help="Uncounted requests/scenario")
    parser.add_argument("--rounds", type=int, default=4, help="Alternating rounds per scenario")
    parser.add_argument("--write-docs", action="store_true", help=f"Update {DOCS.name}")
    parser.add_argument(
        "--open-loop-rate",
        default="",
        help="Open-loop mode: offered requests/s, several comma-separated for a sweep",
    )
    parser.add_argument(
        "--duration", type=float, default=60.0, help="Open loop: seconds per scenario and rate"
    )
    parser.add_argument(
        "--no-jobs",
        action="store_true",
        help="MediaStudio without workers: the created jobs stay queued, so only the "
        "request path is measured, not PNG rendering on the same cores",
    )
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_DSN",
        help="MediaStudio on a new PostgreSQL database made through this DSN, e.g. "
        "postgresql://postgres@127.0.0.1:5432/postgres (dropped at the end)",
    )
    parser.add_argument(
        "--setting",
        action="append",
        type=setting_pair,
        default=[],
        metavar="NAME=VALUE",
        help="A MediaStudio setting for this run, e.g. creates_in_flight=8 (passed as "
        "MEDIASTUDIO_NAME), to compare values of one setting",
    )
    parser.add_argument("--docs", type=Path, default=DOCS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.postgres and args.write_docs:
        parser.error("--postgres writes no docs: its figures are copied by hand")
    if args.requests < args.rounds * 2 or args.concurrency < 1 or args.rounds < 1:
        parser.error("need --requests >= 2 * --rounds, --concurrency >= 1 and --rounds >= 1")
    try:
        rates = tuple(float(rate) for rate in args.open_loop_rate.split(",") if rate.strip())
    except ValueError:
        parser.error("--open-loop-rate takes numbers, e.g. 50 or 25,50,100")
    if any(rate <= 0 for rate in rates) or args.duration <= 0:
        parser.error("open-loop rates and --duration must be positive")
    command = shlex.join(["python", "benchmarks/api_throughput.py", *argv])
    return Options(
        args.requests,
        args.concurrency,
        max(0, args.warmup),
        args.rounds,
        args.write_docs,
        args.docs,
        command,
        rates,
        args.duration,
        args.no_jobs,
        args.postgres,
        tuple(args.setting),
    )


# --- Servers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    label: str
    base_url: str
    pid: int


def prepare_sandbox_key(data_dir: Path, env: dict[str, str]) -> str:
    """An ``unlimited`` account and a sandbox key for it, made with the CLI as an operator would."""
    where = ["--data-dir", str(data_dir)]
    account = ["accounts", "create", "--email", BENCH_EMAIL, "--plan", "unlimited"]
    mediastudio_cli([*account, "--credits", "0", *where], env)
    output = mediastudio_cli(
        ["keys", "create", "--account", BENCH_EMAIL, "--name", "bench", "--test", *where], env
    )
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines or not lines[-1].startswith("ms_test_"):
        raise RuntimeError(f"no sandbox key in the output of keys create:\n{output}")
    return lines[-1]


def wait_until_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{tail(log)}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {READY_TIMEOUT_S:g} s:\n{tail(log)}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (uvicorn's graceful shutdown), then SIGKILL if it does not exit in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextmanager
def running_server(
    label: str, command: list[str], env: dict[str, str], port: int, log: Path
) -> Iterator[Server]:
    """A server subprocess, ready to answer; stopped on exit whatever happens."""
    with log.open("wb") as output:
        # A session of its own: a Ctrl-C in the terminal reaches only us, and we stop it cleanly.
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_until_ready(process, f"{base_url}/readyz", log)
            yield Server(label, base_url, process.pid)
        finally:
            stop_process(process)


async def _postgres_admin(dsn: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def postgres_database(stack: ExitStack, admin_dsn: str) -> str:
    """A new, empty PostgreSQL database for this run (dropped when ``stack`` closes); its URL."""
    name = f"bench_api_{os.getpid()}"
    asyncio.run(_postgres_admin(admin_dsn, f'CREATE DATABASE "{name}"'))
    stack.callback(
        lambda: asyncio.run(_postgres_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}"'))
    )
    return admin_dsn.rsplit("/", 1)[0] + f"/{name}"


def start_mediastudio(
    stack: ExitStack,
    workdir: Path,
    *,
    run_jobs: bool = True,
    postgres: str | None = None,
    settings: tuple[tuple[str, str], ...] = (),
) -> tuple[Server, str]:
    data_dir = workdir / "mediastudio"
    env = clean_environment(MEDIASTUDIO_BOOTSTRAP="false", MEDIASTUDIO_LOG_LEVEL="warning")
    env.update({f"MEDIASTUDIO_{name.upper()}": value for name, value in settings})
    if postgres:
        env["MEDIASTUDIO_DATABASE_URL"] = postgres_database(stack, postgres)
    if not run_jobs:
        # No worker in any pool (the sandbox engine runs a model in the pool of the real one it
        # stands in for): the jobs stay queued.
        env.update(
            MEDIASTUDIO_WORKERS_CPU="0",
            MEDIASTUDIO_WORKERS_GPU="0",
            MEDIASTUDIO_WORKERS_IO="0",
            MEDIASTUDIO_WORKERS_REMOTE="0",
        )
        # ...and the sweeper, which offers every queued job to the dispatcher every 5 s, would
        # read thousands of them each time: only its start-up sweep runs.
        env["MEDIASTUDIO_SWEEP_INTERVAL_S"] = "86400"
    key = prepare_sandbox_key(data_dir, env)
    port = free_port()
    command = [sys.executable, "-m", "mediastudio", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir)]
    log = workdir / "mediastudio.log"
    return stack.enter_context(running_server(MEDIASTUDIO, command, env, port, log)), key


def start_baseline(stack: ExitStack, workdir: Path) -> Server:
    port = free_port()
    command = [sys.executable, str(BASELINE_APP), "--port", str(port)]
    command += ["--db", str(workdir / "baseline.db")]
    log = workdir / "baseline.log"
    return stack.enter_context(running_server(BASELINE, command, clean_environment(), port, log))


# --- Measuring -------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass(frozen=True)
class Scenario:
    """One kind of request to one server."""

    method: str
    path: Callable[[int], str]
    expect: int
    body: dict[str, Any] | None = None
    collect_ids: bool = False


@dataclass
class Measurement:
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    ids: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    round_rps: list[float] = field(default_factory=list)

    def add(self, other: Measurement) -> None:
        self.latencies_s += other.latencies_s
        self.statuses.update(other.statuses)
        self.ids += other.ids
        self.wall_s += other.wall_s
        self.server_cpu_s += other.server_cpu_s
        self.client_cpu_s += other.client_cpu_s
        self.round_rps.append(len(other.latencies_s) / other.wall_s if other.wall_s else 0.0)


async def send(client: httpx.AsyncClient, scenario: Scenario, index: int) -> httpx.Response:
    return await client.request(scenario.method, scenario.path(index), json=scenario.body)


async def drive(
    client: httpx.AsyncClient, server: Server, scenario: Scenario, count: int, concurrency: int
) -> Measurement:
    """``count`` requests, ``concurrency`` at a time; latency of each, CPU of both processes."""
    result = Measurement()
    indices = iter(range(count))

    async def worker() -> None:
        for index in indices:
            started = time.perf_counter()
            try:
                response = await send(client, scenario, index)
            except httpx.HTTPError:
                result.statuses[0] += 1  # no response at all
                continue
            result.latencies_s.append(time.perf_counter() - started)
            result.statuses[response.status_code] += 1
            if scenario.collect_ids and response.status_code == scenario.expect:
                result.ids.append(str(response.json()["id"]))

    server_cpu, client_cpu = process_cpu_s(server.pid), time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.wall_s = time.perf_counter() - started
    result.server_cpu_s = process_cpu_s(server.pid) - server_cpu
    result.client_cpu_s = time.process_time() - client_cpu
    return result


@dataclass
class Drain:
    """Waiting for MediaStudio's job backlog after its create rounds."""

    seconds: float = 0.0
    server_cpu_s: float = 0.0


async def has_jobs(client: httpx.AsyncClient, status: str) -> bool:
    response = await client.get("/api/v1/generations", params={"status": status, "limit": 1})
    response.raise_for_status()
    return bool(response.json()["data"])


async def drain_jobs(client: httpx.AsyncClient, server: Server, drain: Drain) -> None:
    """Wait until no generation is queued or processing any more."""
    cpu, started = process_cpu_s(server.pid), time.perf_counter()
    while await has_jobs(client, "queued") or await has_jobs(client, "processing"):
        if time.perf_counter() - started > DRAIN_TIMEOUT_S:
            raise RuntimeError(f"jobs still running after {DRAIN_TIMEOUT_S:g} s")
        await asyncio.sleep(0.1)
    drain.seconds += time.perf_counter() - started
    drain.server_cpu_s += process_cpu_s(server.pid) - cpu


@dataclass
class Side:
    """A server with its client, its scenario of the pair, and what to do after each round."""

    server: Server
    client: httpx.AsyncClient
    scenario: Scenario
    after_round: Callable[[bool], Awaitable[None]] | None = None  # argument: measured?


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


async def run_pair(sides: list[Side], options: Options) -> dict[str, Measurement]:
    """Warm-up, then the measured rounds, alternating which server goes first."""
    for side in sides:
        await drive(side.client, side.server, side.scenario, options.warmup, options.concurrency)
        if side.after_round is not None:
            await side.after_round(False)
    totals = {side.server.label: Measurement() for side in sides}
    for round_index, count in enumerate(split(options.requests, options.rounds)):
        for side in sides if round_index % 2 == 0 else sides[::-1]:
            measured = await drive(
                side.client, side.server, side.scenario, count, options.concurrency
            )
            totals[side.server.label].add(measured)
            if side.after_round is not None:
                await side.after_round(True)
    return totals


def create_scenarios() -> tuple[Scenario, Scenario]:
    mediastudio = Scenario(
        "POST", lambda _: "/api/v1/generate/image", 202, CREATE_BODY, collect_ids=True
    )
    baseline = Scenario("POST", lambda _: "/insert", 200, CREATE_BODY, collect_ids=True)
    return mediastudio, baseline


def read_scenarios(
    mediastudio_ids: list[str], baseline_ids: list[str]
) -> tuple[Scenario, Scenario]:
    """Reads of the rows just created, in a shuffled (seeded) order."""
    if not mediastudio_ids or not baseline_ids:
        raise RuntimeError("a server created nothing to read: see the create statuses")
    shuffled = [list(mediastudio_ids), list(baseline_ids)]
    for ids in shuffled:
        random.Random(42).shuffle(ids)
    ms_ids, base_ids = shuffled
    mediastudio = Scenario("GET", lambda i: f"/api/v1/generations/{ms_ids[i % len(ms_ids)]}", 200)
    baseline = Scenario("GET", lambda i: f"/row/{base_ids[i % len(base_ids)]}", 200)
    return mediastudio, baseline


@dataclass
class Raw:
    create: dict[str, Measurement]
    read: dict[str, Measurement]
    drain: Drain
    failed_jobs: bool


def http_client(base_url: str, options: Options, **extra: Any) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=options.concurrency, max_keepalive_connections=options.concurrency
    )
    timeout = httpx.Timeout(REQUEST_TIMEOUT_S)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout, **extra)


async def measure(mediastudio: Server, baseline: Server, key: str, options: Options) -> Raw:
    """Both scenario pairs, creates first (the reads read what they created)."""
    auth = {"Authorization": f"Bearer {key}"}
    drain = Drain()
    async with (
        http_client(mediastudio.base_url, options, headers=auth) as ms_client,
        http_client(baseline.base_url, options) as base_client,
    ):

        async def drain_mediastudio(measured: bool) -> None:
            await drain_jobs(ms_client, mediastudio, drain if measured else Drain())

        ms_create, base_create = create_scenarios()
        create = await run_pair(
            [
                Side(
                    mediastudio,
                    ms_client,
                    ms_create,
                    None if options.no_jobs else drain_mediastudio,
                ),
                Side(baseline, base_client, base_create),
            ],
            options,
        )
        ms_read, base_read = read_scenarios(create[MEDIASTUDIO].ids, create[BASELINE].ids)
        read = await run_pair(
            [Side(mediastudio, ms_client, ms_read), Side(baseline, base_client, base_read)],
            options,
        )
        failed_jobs = await has_jobs(ms_client, "failed")
        if options.no_jobs:
            await require_all_queued(ms_client)
    return Raw(create, read, drain, failed_jobs)


async def require_all_queued(client: httpx.AsyncClient) -> None:
    """Without workers every job stays queued; one that ran means some pool still had workers,
    and its rendering would be counted as the request path's CPU (a pool added to the settings
    must be turned off in start_mediastudio too)."""
    for status in ("processing", "completed", "failed"):
        if await has_jobs(client, status):
            raise RuntimeError(f"--no-jobs: a job reached {status!r}; some pool has workers")


# --- Summaries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    requests: int
    errors: int
    statuses: dict[int, int]
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float
    client_cpu_ms: float
    round_rps: list[float]


def percentiles_ms(latencies_s: list[float]) -> tuple[float, float]:
    if len(latencies_s) < 2:
        only = latencies_s[0] * 1000 if latencies_s else float("nan")
        return only, only
    cuts = statistics.quantiles(latencies_s, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def summarise(measured: Measurement, expect: int) -> Summary:
    answered = len(measured.latencies_s)
    count = sum(measured.statuses.values())
    p50, p99 = percentiles_ms(measured.latencies_s)
    return Summary(
        requests=count,
        errors=sum(n for status, n in measured.statuses.items() if status != expect),
        statuses=dict(sorted(measured.statuses.items())),
        rps=answered / measured.wall_s if measured.wall_s else 0.0,
        p50_ms=p50,
        p99_ms=p99,
        server_cpu_ms=1000 * measured.server_cpu_s / max(count, 1),
        client_cpu_ms=1000 * measured.client_cpu_s / max(count, 1),
        round_rps=[round(value, 1) for value in measured.round_rps],
    )


@dataclass(frozen=True)
class Ratios:
    """MediaStudio / baseline."""

    rps: float
    p50: float
    p99: float
    server_cpu: float


def ratios(mediastudio: Summary, baseline: Summary) -> Ratios:
    def over(a: float, b: float) -> float:
        return a / b if b else float("nan")

    return Ratios(
        rps=over(mediastudio.rps, baseline.rps),
        p50=over(mediastudio.p50_ms, baseline.p50_ms),
        p99=over(mediastudio.p99_ms, baseline.p99_ms),
        server_cpu=over(mediastudio.server_cpu_ms, baseline.server_cpu_ms),
    )


@dataclass(frozen=True)
class Jobs:
    """What running the sandbox jobs behind the measured creates cost."""

    count: int
    drain_s: float
    cpu_ms_per_job: float  # server CPU of the create rounds + their drains, per job
    any_failed: bool


@dataclass(frozen=True)
class Report:
    date: str
    command: str
    options: dict[str, Any]
    machine: dict[str, str]
    create: dict[str, Summary]
    read: dict[str, Summary]
    jobs: Jobs

    @property
    def errors(self) -> int:
        return sum(s.errors for pair in (self.create, self.read) for s in pair.values())

    def ratios(self, scenario: str) -> Ratios:
        pair = self.create if scenario == "create" else self.read
        return ratios(pair[MEDIASTUDIO], pair[BASELINE])


def build_report(raw: Raw, options: Options, machine: dict[str, str]) -> Report:
    ms_create = raw.create[MEDIASTUDIO]
    job_cpu_s = ms_create.server_cpu_s + raw.drain.server_cpu_s
    return Report(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=options.command,
        options={
            "requests": options.requests,
            "concurrency": options.concurrency,
            "warmup": options.warmup,
            "rounds": options.rounds,
            "no_jobs": int(options.no_jobs),
            "database": "PostgreSQL" if options.postgres else "SQLite",
        },
        machine=machine,
        create={
            MEDIASTUDIO: summarise(ms_create, 202),
            BASELINE: summarise(raw.create[BASELINE], 200),
        },
        read={label: summarise(measured, 200) for label, measured in raw.read.items()},
        jobs=Jobs(
            count=len(ms_create.ids),
            drain_s=raw.drain.seconds,
            cpu_ms_per_job=1000 * job_cpu_s / max(len(ms_create.ids), 1),
            any_failed=raw.failed_jobs,
        ),
    )


# --- The machine -----------------------------------------------------------------------------


def versions(*packages: str) -> str:
    found = []
    for package in packages:
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            found.append(f"{package} (not installed)")
    return ", ".join(found)


def describe_machine() -> dict[str, str]:
    load = os.getloadavg()
    return {
        "cpus": str(len(os.sched_getaffinity(0))),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
        "load_average_at_start": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        "packages": versions(
            "uvicorn", "uvloop", "httptools", "fastapi", "sqlalchemy", "aiosqlite", "httpx"
        ),
    }


# --- Rendering -------------------------------------------------------------------------------

REQUESTS = {
    ("create", MEDIASTUDIO): "`POST /api/v1/generate/image`",
    ("create", BASELINE): "`POST /insert`",
    ("read", MEDIASTUDIO): "`GET /api/v1/generations/{id}`",
    ("read", BASELINE): "`GET /row/{id}`",
}
TABLE_HEADER = (
    "| scenario | server, request | req/s | p50 ms | p99 ms "
    "| server CPU ms/req | client CPU ms/req |\n"
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
)


def times(value: float) -> str:
    return f"{value:.2f}x"


def summary_row(scenario: str, label: str, summary: Summary) -> str:
    return (
        f"| {scenario} | {label} {REQUESTS[scenario, label]} | {summary.rps:.0f} "
        f"| {summary.p50_ms:.1f} | {summary.p99_ms:.1f} | {summary.server_cpu_ms:.2f} "
        f"| {summary.client_cpu_ms:.2f} |"
    )


def ratio_row(scenario: str, value: Ratios) -> str:
    return (
        f"| {scenario} | **{MEDIASTUDIO} / {BASELINE}** | **{times(value.rps)}** "
        f"| **{times(value.p50)}** | **{times(value.p99)}** | **{times(value.server_cpu)}** | |"
    )


def results_table(report: Report) -> str:
    rows = [TABLE_HEADER]
    for scenario, pair in (("create", report.create), ("read", report.read)):
        rows += [summary_row(scenario, label, pair[label]) for label in (MEDIASTUDIO, BASELINE)]
        rows.append(ratio_row(scenario, report.ratios(scenario)))
    return "\n".join(rows)


def rounds_line(report: Report) -> str:
    parts = []
    for scenario, pair in (("create", report.create), ("read", report.read)):
        for label in (MEDIASTUDIO, BASELINE):
            values = ", ".join(f"{rps:.0f}" for rps in pair[label].round_rps)
            parts.append(f"{label} {scenario} {values}")
    return "; ".join(parts)


NO_JOBS = (
    "MediaStudio ran without workers (`--no-jobs`: `MEDIASTUDIO_WORKERS_CPU/GPU/IO/REMOTE=0`, and "
    "`MEDIASTUDIO_SWEEP_INTERVAL_S=86400` so that the sweeper does not re-read the growing "
    "queue every 5 s): its sandbox jobs stayed queued, so these figures are the request path "
    "alone, as the baseline's are, without 256x256 PNGs rendered on the same two cores."
)


def jobs_line(report: Report) -> str:
    if report.options.get("no_jobs"):
        return NO_JOBS
    jobs = report.jobs
    failed = " Some jobs failed: look at the server log." if jobs.any_failed else ""
    return (
        f"The {jobs.count} sandbox jobs of the measured creates ran in MediaStudio's workers "
        f"(2 CPU worker slots, 256x256 PNG each) while the create rounds ran; waiting for the "
        f"backlog after the rounds took {jobs.drain_s:.1f} s in all, and accepting plus running "
        f"one job cost {jobs.cpu_ms_per_job:.1f} ms of server CPU.{failed}"
    )


def terminal_report(report: Report) -> str:
    statuses = {
        f"{scenario} {label}": summary.statuses
        for scenario, pair in (("create", report.create), ("read", report.read))
        for label, summary in pair.items()
    }
    return "\n\n".join(
        [
            results_table(report),
            f"Rounds (req/s): {rounds_line(report)}",
            jobs_line(report),
            f"Statuses: {statuses}",
            f"MediaStudio's database: {report.options.get('database', 'SQLite')}",
        ]
    )


# --- docs/benchmarks.md ----------------------------------------------------------------------

WHAT_RUNS = """\
What each request does, read from the code (sandbox key, `unlimited` plan, no
`Idempotency-Key`):

- **MediaStudio create**: one pure-ASGI middleware (`kit/edge.py`: request id, rate-limit
  headers, body cap and error boundary in one pass); the body parsed into `ImageRequest`;
  authentication: SHA-256 of the key, then the key cache (`keys/cache.py`): one `stat` of the
  change counter next to the SQLite file and no SQL while nothing changed (on a miss, one read
  transaction selecting nine columns of `api_keys` joined to `accounts`), plus a write updating
  `last_used_at` at most once a minute per key; no rate-limit check (the `unlimited` plan has
  none; other plans add two in-memory moving-window hits); catalog resolution, which validates
  the input against the candidate models and keeps the chosen one's result; no idempotency claim
  and no body fingerprint (no key sent); then one write transaction on the single writer
  connection: `BEGIN IMMEDIATE`, one cached Core `INSERT` of the generation, commit. A sandbox
  job costs nothing, so the account lock, the daily-quota count and the credit reservation
  (conditional UPDATE + ledger row) are skipped: a live create does those too and costs more
  than this. After the commit the job id is put on the in-memory queue and the generation is
  rendered (`GenerationRead`, about 0.6 KB of JSON, by pydantic-core's serialiser).
- **MediaStudio read**: the same middleware and key cache, then one read transaction
  selecting the generation by id, account and mode (primary key; a statement built once, its
  parameters bound per request). The response is rendered with a signed URL (HMAC-SHA256) per
  output, then passed through FastAPI's `response_model` validation and serialisation (about
  1 KB of JSON).
- **Baseline**: `benchmarks/baseline_app.py`, the same uvicorn, SQLite settings and
  writer/reader split; the create parses the same body into a 4-field model and runs one
  `INSERT … RETURNING` in a `BEGIN IMMEDIATE` transaction (SQLAlchemy Core, no ORM); the read
  runs one `SELECT` by primary key in a read transaction.

So, the key known, a MediaStudio create runs one transaction of 3 SQL statements (counting
`BEGIN` and `COMMIT`), as the baseline does, and so does a read; every SQLite call goes through
aiosqlite's thread, a round trip between threads each time."""


def machine_line(report: Report) -> str:
    machine = report.machine
    return (
        f"{machine['cpus']} CPUs (`nproc`), {machine['cpu_model']}, Python {machine['python']}, "
        f"{machine['os']}; load average {machine['load_average_at_start']} at start; "
        f"{machine['packages']}"
    )


def load_line(report: Report) -> str:
    options = report.options
    return (
        f"{options['requests']} measured requests per scenario and server after "
        f"{options['warmup']} uncounted warm-up requests, {options['concurrency']} in flight, "
        f"in {options['rounds']} rounds alternating which server goes first; every request "
        "answered the expected status (202 for a MediaStudio create, 200 otherwise)."
    )


def caveats(report: Report) -> str:
    client = max(report.create[BASELINE].client_cpu_ms, report.read[BASELINE].client_cpu_ms)
    server = max(report.create[BASELINE].server_cpu_ms, report.read[BASELINE].server_cpu_ms)
    return (
        f"How to read it: req/s is the rate {report.options['concurrency']} client connections "
        "achieved; p50/p99 are per-request latencies under that load; server CPU ms/req is the "
        "server process's CPU time (all its threads, from `/proc`) during the rounds divided by "
        "the requests, usually the steadiest figure on a shared machine. The load generator "
        "(httpx on uvloop, in the benchmark process) shares the same cores: against the baseline "
        f"it spent up to {client:.2f} ms of CPU per request while the baseline server spent up "
        f"to {server:.2f} ms, so the baseline's req/s is limited by the client at least as much "
        "as by the server, and the req/s ratio understates the gap that server CPU per request "
        "shows. p99 is at the mercy of the machine: both servers see stalls of a few hundred ms "
        "when other work runs on it, so compare p99 ratios across several runs, not one. "
        "MediaStudio's create figures include its sandbox jobs running in its workers at the "
        "same time (realistic: a server accepts jobs while it runs them) on CPU shared with the "
        "request path, so its create CPU/req includes part of that work; its read figures were "
        "taken on an idle server (the backlog had been drained)."
    )


def interpretation(report: Report) -> str:
    create, read = report.ratios("create"), report.ratios("read")
    ms_create, ms_read = report.create[MEDIASTUDIO], report.read[MEDIASTUDIO]
    jobs_note = "" if report.options.get("no_jobs") else "jobs running meanwhile included; "
    return (
        f"In this run MediaStudio accepted {ms_create.rps:.0f} sandbox generations/s "
        f"({times(create.rps)} the baseline's insert rate, p50 {times(create.p50)}, "
        f"p99 {times(create.p99)}) and served {ms_read.rps:.0f} reads/s ({times(read.rps)} the "
        f"baseline's, p50 {times(read.p50)}, p99 {times(read.p99)}). Per request its server "
        f"spent {ms_create.server_cpu_ms:.2f} ms of CPU on a create ({jobs_note}"
        f"{times(create.server_cpu)} the baseline's) and {ms_read.server_cpu_ms:.2f} ms "
        f'on a read ({times(read.server_cpu)}). Where that CPU goes: see "API request path '
        f'profile" below, when present.'
    )


def history_row(report: Report) -> str:
    create, read = report.ratios("create"), report.ratios("read")
    ms_c, base_c = report.create[MEDIASTUDIO], report.create[BASELINE]
    ms_r, base_r = report.read[MEDIASTUDIO], report.read[BASELINE]
    return (
        f"| {report.date} | {report.options['requests']} x {report.options['concurrency']}"
        f"{', no jobs' if report.options.get('no_jobs') else ''} "
        f"| {ms_c.rps:.0f} / {base_c.rps:.0f} = {times(create.rps)} "
        f"| {times(create.p50)} / {times(create.p99)} | {times(create.server_cpu)} "
        f"| {ms_r.rps:.0f} / {base_r.rps:.0f} = {times(read.rps)} "
        f"| {times(read.p50)} / {times(read.p99)} | {times(read.server_cpu)} |"
    )


HISTORY_HEADER = (
    "| date | requests x concurrency | create req/s MS / base | create p50 / p99 ratio "
    "| create CPU/req ratio | read req/s MS / base | read p50 / p99 ratio | read CPU/req ratio |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- |"
)


def earlier_runs(document: str) -> list[str]:
    """The history rows already in the document, newest first."""
    match = re.search(re.escape(HISTORY_BEGIN) + r"(.*?)" + re.escape(HISTORY_END), document, re.S)
    if match is None:
        return []
    lines = [line.strip() for line in match.group(1).splitlines()]
    return [line for line in lines if line.startswith("| 2")]


def wrap(paragraph: str, indent: str = "") -> str:
    """A generated paragraph folded like the hand-written ones (100 columns)."""
    return textwrap.fill(paragraph, width=100, subsequent_indent=indent, break_on_hyphens=False)


def section(report: Report, history: list[str]) -> str:
    return f"""{SECTION_BEGIN}
## API throughput

Requests per second and p50/p99 latency of creating a sandbox generation and of reading one,
side by side with a bare FastAPI endpoint doing one SQLite insert (and one primary-key read) on
the same machine in the same run. The ratio MediaStudio / baseline is the figure.

- Command (repository root): `{report.command}` (`make bench` runs it without `--write-docs`)
- Date: {report.date}
- Machine: {machine_line(report)}
{wrap(f"- Load: {load_line(report)}", indent="  ")}

{results_table(report)}

{wrap(f"Per round (req/s): {rounds_line(report)}.")}

{wrap(jobs_line(report))}

{wrap(interpretation(report))}

{wrap(caveats(report))}

{WHAT_RUNS}

### Runs so far

Newest first; the same command on the same machine unless the row says otherwise.

{HISTORY_BEGIN}
{HISTORY_HEADER}
{chr(10).join(history)}
{HISTORY_END}
{SECTION_END}
"""


def write_docs(report: Report, path: Path) -> None:
    document = path.read_text() if path.exists() else INTRO
    history = [history_row(report), *earlier_runs(document)][:HISTORY_ROWS]
    write_section(path, SECTION_BEGIN, SECTION_END, section(report, history), new_document=INTRO)


def save_raw(report: Report) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"api_throughput-{stamp}.json"
    path.write_text(json.dumps(asdict(report), indent=2, default=str) + "\n")
    return path


# --- Open loop -------------------------------------------------------------------------------

OPEN_LOOP_CONNECTIONS = 256  # enough that connections are not what holds requests back
P99_TARGET_MS = 50.0
OPEN_BEGIN = (
    "<!-- BEGIN api_open_loop (written by benchmarks/api_throughput.py --open-loop-rate) -->"
)
OPEN_END = "<!-- END api_open_loop -->"


@dataclass
class OpenLoop(Measurement):
    """A Measurement whose latencies count from each request's scheduled send time."""

    offered_rate: float = 0.0
    max_send_lag_s: float = 0.0  # how late the client itself sent (or a connection was free)
    # Per request (seconds since the start it was scheduled at, latency): where in the run the
    # slow ones were, one episode (a stall) or spread out (a server near its capacity).
    timeline: list[tuple[float, float]] = field(default_factory=list)


async def open_connections(
    stack: AsyncExitStack, base_url: str, options: Options, **extra: Any
) -> list[httpx.AsyncClient]:
    """``OPEN_LOOP_CONNECTIONS`` clients of one connection each, wrk2's connections.

    One client per connection rather than one pool of them: httpcore's pool walks its requests
    and its connections on every request that starts or ends, so a pool of 256 busy connections
    cost the client ~8 ms of CPU per request (against ~2 ms while the server kept up) and the
    load generator, not the server, became the limit as soon as the server fell behind."""
    single = Options(**{**asdict(options), "concurrency": 1})
    return [
        await stack.enter_async_context(http_client(base_url, single, **extra))
        for _ in range(OPEN_LOOP_CONNECTIONS)
    ]


@contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection in the load generator while it measures: a full collection of its
    heap (256 clients, the latencies so far) stopped its event loop for 30-65 ms, which counted
    as latency of every request in flight and delayed the next sends. wrk, in C, has none.
    What the run leaves behind is collected when it ends."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


async def drive_open_loop(
    clients: list[httpx.AsyncClient],
    server: Server,
    scenario: Scenario,
    rate: float,
    duration_s: float,
) -> OpenLoop:
    """``rate`` requests/s for ``duration_s``, each sent at its scheduled time without waiting
    for the others; latency = answer time - scheduled time."""
    result = OpenLoop(offered_rate=rate)
    # perf_counter, not clock(): uvloop's clock moves in whole milliseconds.
    clock = time.perf_counter
    count = max(1, round(rate * duration_s))

    async def one(client: httpx.AsyncClient, index: int, scheduled: float) -> None:
        result.max_send_lag_s = max(result.max_send_lag_s, clock() - scheduled)
        try:
            response = await send(client, scenario, index)
        except httpx.HTTPError:
            result.statuses[0] += 1
            return
        took = clock() - scheduled
        result.latencies_s.append(took)
        result.timeline.append((scheduled - start, took))
        result.statuses[response.status_code] += 1
        if scenario.collect_ids and response.status_code == scenario.expect:
            result.ids.append(str(response.json()["id"]))

    # A fixed set of connections takes the scheduled requests (wrk2's way): a task per request
    # queued in one httpcore pool whenever the server fell behind made the pool's assignment
    # pass quadratic in the backlog and pinned the client at 100 % CPU for good. A request goes
    # to the connection that went idle last, as a pool reuses its first free one: handing them
    # out in turn, all 256 busy every second, cost both servers ~20-40 % more CPU per request.
    idle = list(clients)
    backlog: deque[tuple[int, float]] = deque()

    async def serve_from(client: httpx.AsyncClient, index: int, scheduled: float) -> None:
        await one(client, index, scheduled)
        while backlog:
            await one(client, *backlog.popleft())
        idle.append(client)

    server_cpu, client_cpu = process_cpu_s(server.pid), time.process_time()
    start = clock() + 0.05
    running: set[asyncio.Task[None]] = set()
    with collector_paused():
        for index in range(count):
            scheduled = start + index / rate
            delay = scheduled - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if idle:
                task = asyncio.create_task(serve_from(idle.pop(), index, scheduled))
                running.add(task)
                task.add_done_callback(running.discard)
            else:
                backlog.append((index, scheduled))
        while running:
            await asyncio.gather(*running)
        result.wall_s = clock() - start
        result.server_cpu_s = process_cpu_s(server.pid) - server_cpu
        result.client_cpu_s = time.process_time() - client_cpu
    return result


@dataclass(frozen=True)
class OpenRow:
    rate: float
    scenario: str
    label: str
    summary: Summary
    p90_ms: float
    max_ms: float
    max_send_lag_ms: float
    # The seconds of the run (by schedule) holding a request over the p99 target, as ranges.
    slow_seconds: str = ""


def slow_seconds(timeline: list[tuple[float, float]]) -> str:
    """``"12-16, 40"``: the whole seconds in which some request took over the p99 target."""
    seconds = sorted({int(at) for at, took in timeline if took * 1000 > P99_TARGET_MS})
    ranges: list[list[int]] = []
    for second in seconds:
        if ranges and second == ranges[-1][1] + 1:
            ranges[-1][1] = second
        else:
            ranges.append([second, second])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges) or "none"


def open_row(rate: float, scenario: str, label: str, measured: OpenLoop, expect: int) -> OpenRow:
    latencies = sorted(measured.latencies_s)
    p90 = statistics.quantiles(latencies, n=10)[8] * 1000 if len(latencies) > 1 else float("nan")
    return OpenRow(
        rate=rate,
        scenario=scenario,
        label=label,
        summary=summarise(measured, expect),
        p90_ms=p90,
        max_ms=latencies[-1] * 1000 if latencies else float("nan"),
        max_send_lag_ms=measured.max_send_lag_s * 1000,
        slow_seconds=slow_seconds(measured.timeline),
    )


async def measure_open_loop(
    mediastudio: Server, baseline: Server, key: str, options: Options
) -> list[OpenRow]:
    """Per rate: creates on each server, MediaStudio's jobs drained, then reads of them."""
    auth = {"Authorization": f"Bearer {key}"}
    rows: list[OpenRow] = []
    async with (
        http_client(mediastudio.base_url, options, headers=auth) as ms_client,
        AsyncExitStack() as stack,
    ):
        ms_connections = await open_connections(stack, mediastudio.base_url, options, headers=auth)
        base_connections = await open_connections(stack, baseline.base_url, options)
        ms_create, base_create = create_scenarios()
        # Warm-up, uncounted and alike for both: code paths and caches warm through one
        # connection, then every connection opened.
        await drive(ms_connections[0], mediastudio, ms_create, options.warmup, 1)
        await drive(base_connections[0], baseline, base_create, options.warmup, 1)
        for connections, scenario in ((ms_connections, ms_create), (base_connections, base_create)):
            await asyncio.gather(*(send(c, scenario, i) for i, c in enumerate(connections)))
        if not options.no_jobs:
            await drain_jobs(ms_client, mediastudio, Drain())
        for rate in options.open_loop_rates:
            created = {}
            for label, server, connections, scenario, expect in (
                (MEDIASTUDIO, mediastudio, ms_connections, ms_create, 202),
                (BASELINE, baseline, base_connections, base_create, 200),
            ):
                measured = await drive_open_loop(
                    connections, server, scenario, rate, options.duration_s
                )
                created[label] = measured.ids
                rows.append(open_row(rate, "create", label, measured, expect))
                print(
                    f"{rate:g}/s create {label}: p99 {rows[-1].summary.p99_ms:.1f} ms, "
                    f"seconds over {P99_TARGET_MS:g} ms: {rows[-1].slow_seconds}"
                )
                if label == MEDIASTUDIO and not options.no_jobs:
                    await drain_jobs(ms_client, mediastudio, Drain())
            ms_read, base_read = read_scenarios(created[MEDIASTUDIO], created[BASELINE])
            for label, server, connections, scenario in (
                (MEDIASTUDIO, mediastudio, ms_connections, ms_read),
                (BASELINE, baseline, base_connections, base_read),
            ):
                measured = await drive_open_loop(
                    connections, server, scenario, rate, options.duration_s
                )
                rows.append(open_row(rate, "read", label, measured, 200))
                print(
                    f"{rate:g}/s read {label}: p99 {rows[-1].summary.p99_ms:.1f} ms, "
                    f"seconds over {P99_TARGET_MS:g} ms: {rows[-1].slow_seconds}"
                )
    return rows


OPEN_HEADER = (
    "| offered req/s | scenario | server | achieved req/s | p50 ms | p90 ms | p99 ms | max ms "
    "| errors | server CPU ms/req | client CPU ms/req | client's worst send lag ms "
    "| seconds with a request over 50 ms |\n"
    "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
)


def open_table(rows: list[OpenRow]) -> str:
    lines = [OPEN_HEADER]
    for row in rows:
        s = row.summary
        lines.append(
            f"| {row.rate:g} | {row.scenario} | {row.label} {REQUESTS[row.scenario, row.label]} "
            f"| {s.rps:.0f} | {s.p50_ms:.1f} | {row.p90_ms:.1f} | {s.p99_ms:.1f} "
            f"| {row.max_ms:.0f} | {s.errors} | {s.server_cpu_ms:.2f} | {s.client_cpu_ms:.2f} "
            f"| {row.max_send_lag_ms:.1f} "
            f"| {row.slow_seconds} |"
        )
    return "\n".join(lines)


def crossing_line(rows: list[OpenRow]) -> str:
    """The lowest offered rate at which MediaStudio's p99 reached the target, per scenario."""
    parts = []
    for scenario in ("create", "read"):
        ours = [r for r in rows if r.scenario == scenario and r.label == MEDIASTUDIO]
        over = [r.rate for r in ours if r.summary.p99_ms >= P99_TARGET_MS]
        highest = max((r.rate for r in ours), default=0.0)
        parts.append(
            f"{scenario}: p99 reached {P99_TARGET_MS:g} ms at {min(over):g} req/s"
            if over
            else f"{scenario}: p99 stayed under {P99_TARGET_MS:g} ms up to {highest:g} req/s"
        )
    return "; ".join(parts)


def open_section(rows: list[OpenRow], options: Options, machine: dict[str, str]) -> str:
    load = os.getloadavg()
    machine_text = (
        f"- Machine: {machine['cpus']} CPUs (`nproc`), {machine['cpu_model']}, Python "
        f"{machine['python']}; load average {machine['load_average_at_start']} at start, "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end"
    )
    load_text = (
        f"- Load: {options.duration_s:g} s per scenario, server and rate, after "
        f"{options.warmup} uncounted requests per server, one at a time; the load generator's "
        "garbage collector paused while it measures. "
        + (
            NO_JOBS
            if options.no_jobs
            else "MediaStudio's sandbox jobs run in its workers during its create runs (its "
            "create CPU/req includes them) and are drained before the next run."
        )
    )
    return f"""{OPEN_BEGIN}
## API latency at a fixed offered rate

Requests sent at a constant rate whatever the answers (an open loop), each one's latency counted
from the time it was scheduled to leave, so a stall of the server (or of the client) shows in
full rather than slowing the load down; MediaStudio and the baseline in the same run.

- Command (repository root): `{options.command}`
- Date: {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
{wrap(machine_text, indent="  ")}
{wrap(load_text, indent="  ")}

{open_table(rows)}

{wrap(crossing_line(rows) + ".")}

{
        wrap(
            "The client's worst send lag is how late the load generator sent a request, waiting "
            "for a free connection included: near the latencies, all 256 connections were "
            "waiting on the server. Client CPU ms/req times the achieved rate near 1,000 means "
            "the load generator filled a core and was the limit, not the server."
        )
    }
{OPEN_END}
"""


def run_open_loop(options: Options) -> list[OpenRow]:
    machine = describe_machine()
    with (
        tempfile.TemporaryDirectory(prefix="mediastudio-bench-") as tmp,
        ExitStack() as stack,
    ):
        workdir = Path(tmp)
        mediastudio, key = start_mediastudio(
            stack,
            workdir,
            run_jobs=not options.no_jobs,
            postgres=options.postgres,
            settings=options.settings,
        )
        baseline = start_baseline(stack, workdir)
        print(f"servers ready: {mediastudio.base_url} (MediaStudio), {baseline.base_url}")
        with asyncio.Runner(loop_factory=client_loop_factory()) as runner:
            rows = runner.run(measure_open_loop(mediastudio, baseline, key, options))
    text = open_section(rows, options, machine)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw = RESULTS / f"api_open_loop-{stamp}.json"
    raw.write_text(json.dumps([asdict(row) for row in rows], indent=2, default=str) + "\n")
    errors = sum(row.summary.errors for row in rows)
    if errors:
        print(f"INVALID RUN: {errors} requests got an unexpected status", file=sys.stderr)
    elif options.write_docs:
        write_section(options.docs, OPEN_BEGIN, OPEN_END, text, new_document=INTRO)
        print(f"updated {options.docs}")
    return rows


# --- Main ------------------------------------------------------------------------------------


def exit_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(143)  # unwinds through the finally blocks that stop the servers


def client_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (uvicorn[standard] brings it): a cheaper client leaves more CPU to
    the servers."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(options: Options) -> Report:
    machine = describe_machine()
    with (
        tempfile.TemporaryDirectory(prefix="mediastudio-bench-") as tmp,
        ExitStack() as stack,
    ):
        workdir = Path(tmp)
        mediastudio, key = start_mediastudio(
            stack,
            workdir,
            run_jobs=not options.no_jobs,
            postgres=options.postgres,
            settings=options.settings,
        )
        baseline = start_baseline(stack, workdir)
        print(f"servers ready: {mediastudio.base_url} (MediaStudio), {baseline.base_url}")
        with asyncio.Runner(loop_factory=client_loop_factory()) as runner:
            raw = runner.run(measure(mediastudio, baseline, key, options))
    return build_report(raw, options, machine)


def main(argv: list[str]) -> int:
    options = parse_options(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    if options.open_loop_rates:
        try:
            rows = run_open_loop(options)
        except KeyboardInterrupt:
            print("interrupted; servers stopped", file=sys.stderr)
            return 130
        return 1 if any(row.summary.errors for row in rows) else 0
    try:
        report = run(options)
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130
    print(terminal_report(report))
    print(f"raw figures: {save_raw(report).relative_to(ROOT)}")
    if report.errors:
        print(f"INVALID RUN: {report.errors} requests got an unexpected status", file=sys.stderr)
        return 1
    if options.write_docs:
        write_docs(report, options.docs)
        print(f"updated {options.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
