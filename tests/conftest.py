"""Shared fixtures: a migrated platform in a temporary data directory, an ASGI client, keys."""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediastudio.accounts import service as accounts
from mediastudio.app import create_app
from mediastudio.keys import service as keys
from mediastudio.kit.db import Database
from mediastudio.migrations import upgrade
from mediastudio.platform import Platform
from mediastudio.settings import Settings, load_settings
from tests import deployment
from tests.engines import tiny_cache
from tests.postgres import PostgresServer, shared_postgres
from tests.s3_server import S3Server, start_s3_server

TERMINAL = {"completed", "partially_completed", "failed", "cancelled"}


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    # Distributed (tests/deployment.py): this data directory's database, bucket prefix, Redis
    # and RabbitMQ prefixes, where the test did not choose its own.
    overrides = deployment.with_services(data_dir, overrides)
    if DEFAULT_STORAGE == "s3" and "storage_url" not in overrides:
        overrides = {**_suite_s3_settings(), **overrides}
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "bootstrap": False,
        "engine_modules": ["tests.fakes"],
        # The fake engines are the defaults in API tests; builtin engine tests enable their own.
        "disabled_engines": ["builtin"],
        "sweep_interval_s": 0.5,
        "workers_cpu": 2,
        # The day these tests were written: a model's announced shutdown date must not fail
        # them when it comes (lifecycle tests move the catalog's clock themselves).
        "model_lifecycle_date": date(2026, 12, 2),
        # The tests' tiny random Whisper fails every fallback check: each window once, not six
        # times (tests/engines/tiny_whisper.py).
        "local_whisper_fallback": False,
    }
    values.update(overrides)
    return load_settings(**values)


# The distributed deployment has no SQLite: its tests marked ``databases`` run once.
DATABASES = ("postgresql",) if deployment.DISTRIBUTED else ("sqlite", "postgresql")
# The database of tests not marked ``databases``: `MEDIASTUDIO_TEST_DATABASE=postgresql pytest …`
# runs every test that takes ``settings``, ``api`` or ``database_url`` on PostgreSQL.
DEFAULT_DATABASE = os.environ.get(
    "MEDIASTUDIO_TEST_DATABASE", "postgresql" if deployment.DISTRIBUTED else "sqlite"
)


# The storage of tests whose settings come from make_settings: `MEDIASTUDIO_TEST_STORAGE=s3
# pytest …` puts each one under its own prefix on the session's SeaweedFS (tests/s3_server.py),
# downloads streamed through the API (proxy) so that in-process clients need not follow redirects.
DEFAULT_STORAGE = os.environ.get("MEDIASTUDIO_TEST_STORAGE", "local")
_suite_s3: list[S3Server] = []


def _suite_s3_settings() -> dict[str, Any]:
    if not _suite_s3:
        _suite_s3.append(start_s3_server())
        atexit.register(_suite_s3[0].close)
    return _suite_s3[0].settings(f"suite-{uuid.uuid4().hex}", downloads="proxy")


# The longest tests (node ids, or a prefix of them) and the seconds each took in `pytest -n 2
# --durations=40` runs of their folders on the shared 2-core machine (only the ratios matter):
# each starts at once, heading a worker's first share, the longest alone on a worker while the
# others' add up to less (docs/dependencies.md). A test that takes minutes and is handed out
# last runs alone at the end of the suite while the other workers sit idle; several of them
# handed to one worker run one after the other.
LONGEST_FIRST: dict[str, float] = {
    "tests/e2e/test_openapi_contract.py": 344.0,
    "tests/e2e/test_cli.py::test_keys_made_and_revoked_with_the_cli_take_effect": 80.0,
    "tests/engines/test_sandbox_parity.py::test_the_sandbox_output_has_the_live_shape"
    "[builtin/commercial:tiktok]": 62.0,
    "tests/engines/test_sandbox_parity.py::test_the_sandbox_output_has_the_live_shape"
    "[builtin/instant-ad:both-480p]": 52.0,
    "tests/e2e/test_concurrency.py::test_200_concurrent_creates": 51.0,
    "tests/e2e/test_cancel.py::test_cancel_while_processing": 48.0,
    "tests/engines/test_sandbox_parity.py::test_the_sandbox_output_has_the_live_shape"
    "[builtin/commercial:generated]": 34.0,
}


def _longest(item: pytest.Item) -> str | None:
    return next((prefix for prefix in LONGEST_FIRST if item.nodeid.startswith(prefix)), None)


def worksteal_shares(total: int, workers: int) -> list[int]:
    """How many of ``total`` tests pytest-xdist's ``--dist worksteal`` first hands each worker,
    in collection order: ``pending // workers left``, then the rest (``WorkStealingScheduling.
    check_schedule``). Later a worker that runs dry steals the tail of another's queue."""
    shares = []
    for left in range(workers, 0, -1):
        shares.append(total // left)
        total -= shares[-1]
    return shares


def spread_longest(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """The collection reordered so that the LONGEST_FIRST tests head the workers' first shares,
    each entry (the longest first) on the worker with the fewest seconds so far; every other
    test keeps its order. Every worker collects, and so reorders, the same list."""
    entries = [_longest(item) for item in items]
    rest = iter([item for item, entry in zip(items, entries, strict=True) if entry is None])
    heads: list[list[pytest.Item]] = [[] for _ in range(max(workers, 1))]
    seconds = [0.0] * len(heads)
    for prefix in sorted(set(filter(None, entries)), key=lambda p: -LONGEST_FIRST[p]):
        worker = seconds.index(min(seconds))
        seconds[worker] += LONGEST_FIRST[prefix]
        # The tests of one entry (a module's, say) stay together, sharing its module fixtures.
        heads[worker] += [
            item for item, entry in zip(items, entries, strict=True) if entry == prefix
        ]
    ordered: list[pytest.Item] = []
    for head, share in zip(heads, worksteal_shares(len(items), len(heads)), strict=True):
        ordered += head
        ordered += [next(rest) for _ in range(max(share - len(head), 0))]
    ordered += list(rest)
    return ordered


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    workers = int(workerinput["workercount"]) if workerinput else 1
    items[:] = spread_longest(items, workers)
    if deployment.DISTRIBUTED:
        for item in items:
            marker = item.get_closest_marker("embedded_only")
            if marker is not None:
                reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
                item.add_marker(pytest.mark.skip(reason=f"embedded only: {reason}"))


@pytest.fixture(autouse=True)
def _deployment_services() -> Iterator[None]:
    """Distributed: the databases, prefixes and queues of the servers this test started are
    removed when it ends (set up first, so torn down after the test's own fixtures)."""
    before = deployment.open_now()
    yield
    deployment.close_since(before)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``databases`` runs once per database, wherever ``database_url`` reaches it
    (through ``settings``, ``api`` or a module's own fixture)."""
    if metafunc.definition.get_closest_marker("databases"):
        for fixture in ("database_url", "blank_database_url"):
            if fixture in metafunc.fixturenames:
                metafunc.parametrize(fixture, DATABASES, indirect=True)


@pytest.fixture(scope="session", autouse=True)
def _tiny_model_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tiny local models are built once per session and shared by the xdist workers
    (tests/engines/tiny_cache.py)."""
    tiny_cache.configure(tmp_path_factory)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = shared_postgres()
    yield server
    server.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3-compatible server (SeaweedFS) for this session, with an empty bucket."""
    server = start_s3_server()
    yield server
    server.close()


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` (the embedded SQLite in the data directory) unless the test is marked
    ``databases`` and this is its PostgreSQL run: then a fresh database copied from the
    session's migrated template (tests/postgres.py), dropped afterwards."""
    if getattr(request, "param", DEFAULT_DATABASE) == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name, url = server.create()
    try:
        yield url
    finally:
        server.drop(name)


@pytest.fixture
def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, not migrated (for migration tests): a SQLite file, or on the
    PostgreSQL run of a ``databases`` test a fresh empty PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'blank.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name, url = server.create(migrated=False)
    try:
        yield url
    finally:
        server.drop(name)


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return make_settings(tmp_path / "data", database_url=database_url)


@dataclass
class Api:
    """An in-process app with its lifespan running, and helpers to make accounts and keys."""

    platform: Platform
    client: httpx.AsyncClient

    async def account(
        self, email: str = "a@example.com", *, plan: str = "unlimited", credits: int = 1000
    ) -> str:
        async with self.platform.db.write() as session:
            account = await accounts.create(
                session, self.platform.settings, email=email, plan=plan, credits_granted=credits
            )
        return account.id

    async def key(self, account_id: str, *, sandbox: bool = False, **options: Any) -> str:
        async with self.platform.db.write() as session:
            owner = await accounts.require(session, account_id)
            new = await keys.create(session, owner, name="test", sandbox=sandbox, **options)
        return new.secret

    async def wait(
        self,
        key: str,
        generation_id: str,
        *,
        until: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        done = until or (lambda body: body["status"] in TERMINAL)
        deadline = asyncio.get_running_loop().time() + timeout
        # Polls back off (50 ms growing to 0.5 s) and a 429 waits as a client would: a free-plan
        # key's 60 requests a minute would otherwise run out while a slow machine renders.
        pause = 0.05
        while True:
            response = await self.client.get(
                f"/api/v1/generations/{generation_id}", headers=auth(key)
            )
            body = response.json()
            if response.status_code == 429:
                pause = min(float(response.headers.get("Retry-After", "1")), 5.0)
            elif done(body):
                return body
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"generation did not get there in time: {body}")
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 0.5)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


_migrated: dict[str, Path] = {}  # "template" → this process's migrated SQLite database


async def start_migrated(settings: Settings) -> None:
    """Give a new embedded database the schema before the app starts: a copy of a database this
    process migrated once (a file copy is milliseconds; running the migrations is a large share
    of an app's start-up). The app's start-up still runs the migrations, which find nothing to
    do. A database that exists already, or PostgreSQL, is left alone; tests of the migrations
    themselves migrate their own (tests/unit/test_migrations.py, the e2e servers)."""
    if not settings.is_sqlite or settings.database_url:
        return
    target = settings.data_dir / "mediastudio.db"
    if target.exists():
        return
    if "template" not in _migrated:
        folder = Path(tempfile.mkdtemp(prefix="mediastudio-migrated-"))
        atexit.register(shutil.rmtree, folder, True)
        db = Database(f"sqlite+aiosqlite:///{folder / 'migrating.db'}")
        try:
            await upgrade(db)
        finally:
            await db.dispose()
        # The backup API writes one consistent file, whatever the journal mode left beside it.
        with (
            closing(sqlite3.connect(folder / "migrating.db")) as source,
            closing(sqlite3.connect(folder / "template.db")) as copy,
        ):
            source.backup(copy)
        _migrated["template"] = folder / "template.db"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_migrated["template"], target)


@asynccontextmanager
async def open_api(settings: Settings) -> AsyncIterator[Api]:
    await start_migrated(settings)
    # Distributed: the API without job slots, as `serve --no-workers`, and a worker process.
    app = create_app(settings, run_workers=not deployment.DISTRIBUTED)
    worker = deployment.start_worker(settings)
    async with deployment.running(worker), app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(platform=app.state.platform, client=client)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with open_api(settings) as opened:
        yield opened
