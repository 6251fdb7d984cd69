"""The API and its workers as separate processes: ``mediastudio serve --no-workers`` and
``mediastudio worker --pools …`` on one PostgreSQL database, jobs carried by RabbitMQ.

What a user sees: a job created over HTTP completes on a worker process; a job waits for a
worker of its pool; a cancel reaches the engine on the worker; a worker killed mid-job loses
nothing (the job runs again elsewhere, charged once).
"""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.e2e.conftest import FAILED
from tests.e2e.server import (
    TERMINAL,
    ServerProcess,
    assert_books_balanced,
    auth,
    base_env,
    client,
    entries_for,
    wait_for,
)
from tests.postgres import PostgresServer, fetch_row
from tests.rabbitmq_server import RABBITMQ_URL, require_rabbitmq, unique_prefix

pytestmark = [
    pytest.mark.e2e,
    # It builds its own distributed deployment (database, broker, storage, workers); under the
    # switch the suite's deployment settings would be mixed into its processes' environment.
    pytest.mark.embedded_only(reason="sets up a distributed deployment of its own"),
]

READY_TIMEOUT_S = 90.0
# A short lease: a killed worker's job comes back after it expires (the sweeper of a surviving
# worker re-offers it), so the test waits seconds, not the default 30.
LEASE_S = "3"


class WorkerProcess:
    """One ``mediastudio worker`` process on the server's data directory and settings."""

    def __init__(self, server: ServerProcess, pools: str, name: str) -> None:
        self.log_path = server.root / f"worker-{name}.log"
        command = [sys.executable, "-m", "mediastudio", "worker", "--pools", pools]
        command += ["--concurrency", "1", "--data-dir", str(server.data_dir)]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=server.root,
            env=base_env(server.data_dir) | server.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, marker: str = " ready.") -> None:
        """Until the log says it works (Celery's "ready." line by default)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while marker not in self.log():
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"worker not ready within {READY_TIMEOUT_S:g} s:\n{self.log()}"
                )
            time.sleep(0.1)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(20)
        self._log.close()
        return self.process.returncode


@pytest.fixture
def database(postgres_server: PostgresServer) -> Iterator[str]:
    name, url = postgres_server.create()
    try:
        yield url
    finally:
        postgres_server.drop(name)


@pytest.fixture
def queue_prefix() -> Iterator[str]:
    yield from unique_prefix()


@pytest.fixture
def cluster(
    request: pytest.FixtureRequest, server: ServerProcess, database: str, queue_prefix: str
) -> Iterator[tuple[ServerProcess, list[WorkerProcess]]]:
    """The API (``--no-workers``, not started yet) and the workers a test starts, every
    process stopped afterwards and its log printed when the test failed."""
    require_rabbitmq()
    server.env = {
        "MEDIASTUDIO_DATABASE_URL": database,
        "MEDIASTUDIO_BROKER_URL": RABBITMQ_URL,
        "MEDIASTUDIO_BROKER_QUEUE_PREFIX": queue_prefix,
        "MEDIASTUDIO_JOB_LEASE_S": LEASE_S,
    }
    server.args = ("--no-workers",)
    workers: list[WorkerProcess] = []
    try:
        yield server, workers
    finally:
        for worker in workers:
            worker.stop(signal.SIGKILL)
        if request.node.stash.get(FAILED, False):
            for worker in workers:
                print(f"----- {worker.log_path.name} -----\n{worker.log()}")


def launch_worker(
    cluster: tuple[ServerProcess, list[WorkerProcess]], pools: str, name: str
) -> WorkerProcess:
    """Started, not waited for: processes start side by side (each takes seconds to import)."""
    server, workers = cluster
    worker = WorkerProcess(server, pools, name)
    workers.append(worker)
    return worker


def queue_depth(name: str) -> tuple[int, int]:
    """``(messages ready, consumers)`` of a broker queue; ``(0, 0)`` before it exists."""
    from amqp.exceptions import NotFound
    from kombu import Connection

    with Connection(RABBITMQ_URL, connect_timeout=2) as connection:
        try:
            _, messages, consumers = connection.default_channel.queue_declare(name, passive=True)
        except NotFound:
            return 0, 0
    return messages, consumers


async def stored(database: str, job_id: str) -> tuple[str, str | None, int]:
    """``(status, worker_id, attempts)`` straight from the database."""
    row = await fetch_row(
        database, "SELECT status, worker_id, attempts FROM generations WHERE id = $1", job_id
    )
    assert row is not None, job_id
    status, worker_id, attempts = row
    return status, worker_id, attempts


async def test_jobs_wait_for_a_worker_of_their_pool_and_cancels_reach_it(
    cluster: tuple[ServerProcess, list[WorkerProcess]], queue_prefix: str, database: str
) -> None:
    server, _ = cluster
    gpu = launch_worker(cluster, "gpu", "gpu")
    key = server.start_with_account(credits=100)
    sandbox_key = server.create_key("e2e@example.com", test=True)[1]
    gpu.wait_ready()

    async with client(server) as http:
        body = {"prompt": "a lighthouse", "model": "sandbox/image"}  # the cpu pool
        created = await http.post("/api/v1/generate/image", json=body, headers=auth(sandbox_key))
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]

        # The offer waits in the cpu queue, which nobody consumes; the gpu worker leaves it
        # (its sweeper may offer it once more: offers are ids, a duplicate is skipped).
        deadline = time.monotonic() + 60
        while queue_depth(f"{queue_prefix}cpu")[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        waiting, consumers = queue_depth(f"{queue_prefix}cpu")
        assert waiting >= 1 and consumers == 0
        assert queue_depth(f"{queue_prefix}gpu")[1] == 1
        job = (await http.get(f"/api/v1/generations/{job_id}", headers=auth(sandbox_key))).json()
        assert job["status"] == "queued", job

        cpu = launch_worker(cluster, "cpu", "cpu")  # one slot
        cpu.wait_ready()
        job = await wait_for(http, sandbox_key, job_id)
        assert job["status"] == "completed", job
        downloaded = await http.get(job["output_url"])
        assert downloaded.status_code == 200
        image = Image.open(io.BytesIO(downloaded.content))
        assert image.size == (job["outputs"][0]["width"], job["outputs"][0]["height"])

        # A cancel through the API stops the engine in the worker process.
        slow = {"prompt": "a lighthouse [slow:120]", "model": "fake/image"}
        created = await http.post("/api/v1/generate/image", json=slow, headers=auth(key))
        slow_id = created.json()["id"]
        await wait_for(http, key, slow_id, until=lambda b: b["status"] == "processing")
        cancelled = await http.post(f"/api/v1/generations/{slow_id}/cancel", headers=auth(key))
        assert cancelled.status_code == 200, cancelled.text
        # The only cpu slot is free again long before the slow job would have ended: the next
        # job runs, so the cancel reached the engine.
        quick = {"prompt": "a boat", "model": "fake/image"}
        created = await http.post("/api/v1/generate/image", json=quick, headers=auth(key))
        job = await wait_for(http, key, created.json()["id"])
        assert job["status"] == "completed", job
        first = await wait_for(http, key, slow_id)
        assert first["status"] == "cancelled", first
        assert (first["credits_charged"], first["credits_refunded"]) == (0, 5)
        assert await assert_books_balanced(http, key) == (95, 0)

        # A worker stopped gracefully puts its running job back in the queue, not counted as
        # an attempt.
        slow = {"prompt": "a tower [slow:120]", "model": "fake/image"}
        created = await http.post("/api/v1/generate/image", json=slow, headers=auth(key))
        slow_id = created.json()["id"]
        await wait_for(http, key, slow_id, until=lambda b: b["status"] == "processing")
        assert cpu.stop(signal.SIGTERM) == 0, cpu.log()
        job = await wait_for(http, key, slow_id, until=lambda b: b["status"] != "processing")
        assert job["status"] == "queued", job
        assert (await stored(database, slow_id))[2] == 0


async def test_a_worker_killed_mid_job_loses_nothing_and_charges_once(
    cluster: tuple[ServerProcess, list[WorkerProcess]], database: str
) -> None:
    server, _ = cluster
    workers = [launch_worker(cluster, "cpu", "a"), launch_worker(cluster, "cpu", "b")]
    key = server.start_with_account(credits=100)
    for worker in workers:
        worker.wait_ready()

    async with client(server) as http:
        slow = {"prompt": "a lighthouse [slow:4]", "model": "fake/image"}  # 5 credits
        created = await http.post("/api/v1/generate/image", json=slow, headers=auth(key))
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        await wait_for(http, key, job_id, until=lambda b: b["status"] == "processing")
        status, holder, attempts = await stored(database, job_id)
        assert (status, attempts) == ("processing", 1)
        assert holder is not None
        pid = int(holder.split(":")[1])
        (victim,) = [w for w in workers if w.process.pid == pid]
        assert victim.stop(signal.SIGKILL) == -signal.SIGKILL

        job = await wait_for(http, key, job_id, timeout=45)
        assert job["status"] in TERMINAL
        status, _, attempts = await stored(database, job_id)
        assert (status, attempts) == ("completed", 2), job
        assert (job["credits_charged"], job["credits_refunded"]) == (5, 0)
        entries = await entries_for(http, key, job_id)
        assert {kind: len(rows) for kind, rows in entries.items()} == {"reserve": 1, "capture": 1}
        assert await assert_books_balanced(http, key) == (95, 0)


async def test_without_a_broker_a_worker_polls_the_database(server: ServerProcess) -> None:
    """SQLite in the shared data directory, no broker: the API leaves the job queued and the
    worker's sweeper finds it."""
    server.args = ("--no-workers",)
    key = server.start_with_account(credits=100)
    worker = WorkerProcess(server, "cpu", "polling")
    try:
        worker.wait_ready(marker="polling the database")
        async with client(server) as http:
            body = {"prompt": "a lighthouse", "model": "fake/image"}
            created = await http.post("/api/v1/generate/image", json=body, headers=auth(key))
            job = await wait_for(http, key, created.json()["id"])
            assert job["status"] == "completed", job
            assert await assert_books_balanced(http, key) == (95, 0)
        assert worker.stop(signal.SIGTERM) == 0, worker.log()
    finally:
        worker.stop(signal.SIGKILL)
