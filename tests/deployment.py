"""The deployment the API, e2e, webhooks and dashboard suites run against.

``MEDIASTUDIO_TEST_DEPLOYMENT`` picks it: ``embedded`` (the default) is one process on SQLite and
local files, as before. ``distributed`` gives every server a test starts the production split
(docs/deployment.md, "The suites on the distributed deployment"):

- its own PostgreSQL database (a copy of the session's migrated template, tests/postgres.py),
  dropped when the test ends, unless the test brought a database of its own;
- its own key prefix in the session's S3 bucket (SeaweedFS, tests/s3_server.py), downloads
  streamed through the API (``proxy``: the in-process clients do not follow redirects);
- its own Redis key prefix (rate limits and the event bus), its keys deleted afterwards;
- its own RabbitMQ queue prefix, its queues deleted afterwards;
- the API without job slots (``serve --no-workers``, or ``create_app(run_workers=False)`` for
  the in-process app) and one ``mediastudio worker`` process for every pool beside it.

Everything is keyed on the server's data directory, so the two servers of one data directory
(tests/e2e's ``pair``) share one database, bus and queues, as two replicas do. A missing service
fails the test with the reason (``make test-distributed`` checks them all before it starts):
running this way is asking for these services.

``python -m tests.deployment`` checks that every service answers (the Makefile's first step).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from mediastudio.settings import Settings
from tests.postgres import PostgresServer, fetch_row, shared_postgres
from tests.rabbitmq_server import RABBITMQ_URL, delete_queues, require_rabbitmq
from tests.redis_server import REDIS_URL, delete_prefixed, require_redis
from tests.s3_server import S3Server, start_s3_server

DEPLOYMENTS = ("embedded", "distributed")
DEPLOYMENT = os.environ.get("MEDIASTUDIO_TEST_DEPLOYMENT", "embedded") or "embedded"
if DEPLOYMENT not in DEPLOYMENTS:
    raise RuntimeError(
        f"MEDIASTUDIO_TEST_DEPLOYMENT={DEPLOYMENT!r}: choose one of {', '.join(DEPLOYMENTS)}"
    )
DISTRIBUTED = DEPLOYMENT == "distributed"

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKER_POOLS = "cpu,gpu,io,remote"
WORKER_READY = " ready."  # Celery's line once it consumes
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0


def _fail_instead_of_skip(check: Any) -> None:
    """Run a ``require_*`` check; a missing service fails: the run asked for it."""
    try:
        check()
    except pytest.skip.Exception as skipped:
        pytest.fail(f"the distributed deployment needs it: {skipped.msg}", pytrace=False)


class Deployment:
    """One data directory's share of the services; made on first use, closed by :func:`close`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        token = f"{os.getpid()}.{uuid.uuid4().hex[:12]}"
        self.s3_prefix = f"deployment-{token}"
        self.redis_prefix = f"mstest:{token}:"
        self.queue_prefix = f"mstest.{token}."
        self._postgres: PostgresServer | None = None
        self._database: str | None = None
        self._database_url: str | None = None

    def database_url(self) -> str:
        """This data directory's PostgreSQL database, created on first use."""
        if self._database_url is None:
            self._postgres = shared_postgres()
            _fail_instead_of_skip(self._postgres.require)
            self._database, self._database_url = self._postgres.create()
        return self._database_url

    def settings(self, given: dict[str, Any]) -> dict[str, Any]:
        """``given`` (a test's overrides) completed with this deployment's services; what a
        test set itself (its own database, storage, rate-limit store…) stays."""
        _require_brokers()
        values = dict(given)
        if values.get("database_url") is None:
            values["database_url"] = self.database_url()
        if "storage_url" not in values:
            values.update(_s3().settings(self.s3_prefix, downloads="proxy"))
        values.setdefault("redis_url", REDIS_URL)
        values.setdefault("rate_limit_key_prefix", self.redis_prefix)
        values.setdefault("redis_key_prefix", self.redis_prefix)
        values.setdefault("broker_url", RABBITMQ_URL)
        values.setdefault("broker_queue_prefix", self.queue_prefix)
        return values

    def env(self) -> dict[str, str]:
        """The same as ``MEDIASTUDIO_*`` variables, for ``serve``, ``worker`` and the CLI."""
        return settings_env(self.settings({}))

    def close(self) -> None:
        if self._postgres is not None and self._database is not None:
            self._postgres.drop(self._database)
            self._database = self._database_url = None
        for cleanup in (
            lambda: delete_prefixed(self.redis_prefix),
            lambda: delete_queues(self.queue_prefix),
        ):
            try:
                cleanup()
            except Exception as exc:  # a service gone at the end of a session: nothing to clean
                print(f"deployment cleanup of {self.data_dir}: {exc!r}", file=sys.stderr)


_deployments: dict[Path, Deployment] = {}
_brokers_checked: list[bool] = []


def _require_brokers() -> None:
    """Redis and RabbitMQ answer (checked once per process)."""
    if not _brokers_checked:
        _fail_instead_of_skip(require_redis)
        _fail_instead_of_skip(require_rabbitmq)
        _brokers_checked.append(True)


_s3_servers: list[S3Server] = []


def _s3() -> S3Server:
    if not _s3_servers:
        server: S3Server | None = None

        def start() -> None:
            nonlocal server
            server = start_s3_server()

        _fail_instead_of_skip(start)
        assert server is not None
        _s3_servers.append(server)
    return _s3_servers[0]


def for_data_dir(data_dir: Path) -> Deployment:
    key = data_dir.resolve()
    if key not in _deployments:
        _deployments[key] = Deployment(key)
    return _deployments[key]


def open_now() -> set[Path]:
    return set(_deployments)


def close_since(before: set[Path]) -> None:
    """Close the deployments made since ``before`` (a test's, when it ends; its servers are
    stopped by then: this fixture is set up first, so torn down last)."""
    for key in [key for key in _deployments if key not in before]:
        _deployments.pop(key).close()


@atexit.register
def _close_all() -> None:
    close_since(set())
    for server in _s3_servers:
        server.close()


def with_services(data_dir: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """``make_settings``'s overrides: unchanged when embedded, completed when distributed."""
    return for_data_dir(data_dir).settings(overrides) if DISTRIBUTED else overrides


def process_env(data_dir: Path) -> dict[str, str]:
    """``MEDIASTUDIO_*`` variables for a server process on ``data_dir``: none when embedded."""
    return for_data_dir(data_dir).env() if DISTRIBUTED else {}


# Settings as environment variables ---------------------------------------------------------


def _plain(value: Any) -> Any:
    """A settings value as JSON-able data, secrets revealed (the worker needs the real ones)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, BaseModel):
        return {name: _plain(getattr(value, name)) for name in value.model_fields_set}
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, datetime | date | clock_time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Path | Decimal):
        return str(value)
    return value


def settings_env(values: Settings | dict[str, Any]) -> dict[str, str]:
    """``MEDIASTUDIO_<FIELD>`` for every field a test set (settings object or overrides), so
    that a worker process runs with what the in-process API runs with. Complex values are JSON,
    which pydantic-settings parses; ``None`` is the default of every optional field, left out."""
    if isinstance(values, Settings):
        values = {name: getattr(values, name) for name in values.model_fields_set}
    env: dict[str, str] = {}
    for name, value in values.items():
        plain = _plain(value)
        if plain is None or name == "data_dir":
            continue
        env[f"MEDIASTUDIO_{name.upper()}"] = plain if isinstance(plain, str) else json.dumps(plain)
    return env


# The worker process ------------------------------------------------------------------------


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment less its own ``MEDIASTUDIO_*``, the repository importable
    (``tests.fakes``), plus ``extra``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("MEDIASTUDIO_")}
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *([existing] if existing else [])])
    env["PYTHONUNBUFFERED"] = "1"
    return env | extra


class Forked:
    """A worker forked by the zygote: not this process's child, so it is watched through a
    pidfd (no exit status: the kernel reaps it); enough of ``Popen`` for :class:`Worker`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._fd: int | None = os.pidfd_open(pid)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        ready = self.returncode is None and self._fd is not None
        if ready and select.select([self._fd], [], [], 0)[0]:
            self._gone()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and self._fd is not None:
            if not select.select([self._fd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0)
            self._gone()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            signal.pidfd_send_signal(self._fd, sig)  # type: ignore[attr-defined]

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _gone(self) -> None:
        self.returncode = 0  # unknown: the kernel reaped it
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Zygote:
    """tests/worker_zygote.py: forks workers with MediaStudio already imported."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.worker_zygote"],
            cwd=REPO_ROOT,
            env=child_env({}),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "zygote ready":
            raise AssertionError(f"the worker zygote did not start: {line!r}")

    def fork(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Forked:
        assert self.process.stdin is not None and self.process.stdout is not None
        request = {"args": args, "env": env, "cwd": str(cwd), "log": str(log)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return Forked(int(self.process.stdout.readline()))

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


_zygotes: list[Zygote] = []


def _zygote() -> Zygote:
    if not _zygotes:
        _zygotes.append(Zygote())
    return _zygotes[0]


class Worker:
    """``mediastudio worker --pools cpu,gpu,io,remote`` on a data directory: each pool's slots
    as the settings give them (``MEDIASTUDIO_WORKERS_<POOL>``), as the in-process runner has.
    Forked from the zygote (seconds sooner than a fresh interpreter)."""

    def __init__(self, data_dir: Path, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.touch()
        args = ["worker", "--pools", WORKER_POOLS, "--data-dir", str(data_dir)]
        self.process = _zygote().fork(args, env, log_path.parent, log_path)
        _LIVE.add(self)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while WORKER_READY not in self.log():
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited before it was ready:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker not ready in {READY_TIMEOUT_S:g} s:\n{self.log()}")
            time.sleep(0.05)

    def send(self, sig: signal.Signals) -> None:
        """Send ``sig`` without waiting (:meth:`stop` waits)."""
        self.process.send_signal(sig)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        _LIVE.discard(self)


_LIVE: set[Worker] = set()


@atexit.register
def _kill_leftover_workers() -> None:
    for worker in list(_LIVE):
        worker.stop(signal.SIGKILL)
    for zygote in _zygotes:
        zygote.close()


def _worker_log(data_dir: Path) -> Path:
    folder = data_dir.parent
    n = 1
    while (folder / f"worker-{n}.log").exists():
        n += 1
    return folder / f"worker-{n}.log"


def start_worker(settings: Settings) -> Worker | None:
    """Distributed: a worker process for an in-process API on ``settings``, started (not yet
    ready: it starts while the app does); embedded: none."""
    if not DISTRIBUTED:
        return None
    if not any(settings.workers_for(pool) for pool in WORKER_POOLS.split(",")):
        return None  # a test that keeps its jobs queued: no slots, as in one process
    return Worker(
        settings.data_dir, child_env(settings_env(settings)), _worker_log(settings.data_dir)
    )


@asynccontextmanager
async def running(worker: Worker | None) -> AsyncIterator[None]:
    """Until the worker consumes, then the body; the worker is killed afterwards (the test is
    over and its deployment thrown away: a graceful stop took Celery seconds)."""
    import asyncio

    if worker is None:
        yield
        return
    try:
        await asyncio.to_thread(worker.wait_ready)
        yield
    finally:
        await asyncio.to_thread(worker.stop, signal.SIGKILL)


async def stored_row(data_dir: Path, sql: str, *params: Any) -> tuple[Any, ...] | None:
    """One row straight from the database of the server(s) on ``data_dir``: the SQLite file
    embedded, its PostgreSQL database distributed. ``sql`` takes ``?`` placeholders."""
    if not DISTRIBUTED:
        import sqlite3
        from contextlib import closing

        with closing(sqlite3.connect(data_dir / "mediastudio.db")) as db:
            found = db.execute(sql, params).fetchone()
        return None if found is None else tuple(found)
    numbered = sql
    for n in range(1, len(params) + 1):
        numbered = numbered.replace("?", f"${n}", 1)
    return await fetch_row(for_data_dir(data_dir).database_url(), numbered, *params)


def embedded_only(reason: str) -> pytest.MarkDecorator:
    """Mark a test that can only hold on the embedded deployment (say why)."""
    return pytest.mark.embedded_only(reason=reason)


def main() -> int:
    """Check every service of the distributed deployment; 1 with the reasons if one is absent."""
    problems: list[str] = []
    checks = {
        "PostgreSQL": lambda: shared_postgres().require(),
        "Redis": require_redis,
        "RabbitMQ": require_rabbitmq,
        "S3 (SeaweedFS)": lambda: _s3(),
    }
    for name, check in checks.items():
        try:
            check()
        except (pytest.skip.Exception, pytest.fail.Exception) as exc:
            problems.append(f"{name}: {exc.msg}")
    if problems:
        print("The distributed deployment's services are not all there:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("PostgreSQL, Redis, RabbitMQ and S3 answer")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
