"""RabbitMQ restarted under load: nothing is lost, work resumes (docs/deployment.md, "What
survives a fault").

The API (``serve --no-workers``) and two ``mediastudio worker`` processes on one PostgreSQL
database, carried by a RabbitMQ node of the test's own (tests/rabbitmq_server.py): the
development broker on 5672 is shared and cannot be restarted. With jobs running and waiting in
the broker, the node is killed (SIGKILL: no goodbye, nothing flushed) or stopped cleanly, kept
away while a job is created, and started again on its data folder. Every job completes, each
charged once (one ``reserve`` and one ``capture`` row), none run more often than a worker died
under it (none did), and the job created while the broker was away is dispatched once it is
back. The figures the test prints (``-s``) are the ones in docs/deployment.md.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.conftest import FAILED
from tests.e2e.server import (
    ServerProcess,
    assert_books_balanced,
    auth,
    client,
    entries_for,
    wait_for,
)
from tests.e2e.test_distributed import WorkerProcess, stored
from tests.postgres import PostgresServer
from tests.rabbitmq_server import PrivateRabbitMQ

pytestmark = [
    pytest.mark.e2e,
    # It builds its own distributed deployment (database, broker, storage, workers); under the
    # switch the suite's deployment settings would be mixed into its processes' environment.
    pytest.mark.embedded_only(reason="sets up a distributed deployment of its own"),
]

# How long the broker stays away after it died: the workers and the API notice, the job
# created meanwhile waits in the database.
AWAY_S = 5.0
# Budget for a broken build to fail in, not a speed check.
JOBS_WITHIN_S = 90.0


@pytest.fixture
def database(postgres_server: PostgresServer) -> Iterator[str]:
    name, url = postgres_server.create()
    try:
        yield url
    finally:
        postgres_server.drop(name)


@pytest.fixture
def rabbitmq(tmp_path: Path) -> Iterator[PrivateRabbitMQ]:
    node = PrivateRabbitMQ(tmp_path / "rabbitmq")
    node.start()
    try:
        yield node
    finally:
        node.kill()


def _at(body: dict[str, object], field: str) -> float:
    value = body[field]
    assert isinstance(value, str), body
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("how", ["kill", "stop"])
async def test_rabbitmq_restarted_under_load_loses_no_job_and_work_resumes(
    request: pytest.FixtureRequest,
    server: ServerProcess,
    database: str,
    rabbitmq: PrivateRabbitMQ,
    how: str,
) -> None:
    server.env = {
        "MEDIASTUDIO_DATABASE_URL": database,
        "MEDIASTUDIO_BROKER_URL": rabbitmq.url,
        # A lost offer is sent again after the lease: seconds, not the default 30.
        "MEDIASTUDIO_JOB_LEASE_S": "3",
    }
    server.args = ("--no-workers",)
    workers = [WorkerProcess(server, "cpu", "a"), WorkerProcess(server, "cpu", "b")]
    try:
        key = server.start_with_account(credits=1000)
        for worker in workers:
            worker.wait_ready()
        await _restart_under_load(server, key, workers, rabbitmq, database, how)
    finally:
        for worker in workers:
            worker.stop(signal.SIGKILL)
        if request.node.stash.get(FAILED, False):
            for worker in workers:
                print(f"----- {worker.log_path.name} -----\n{worker.log()}")
            print(f"----- rabbitmq -----\n{rabbitmq.log()}")


async def _restart_under_load(
    server: ServerProcess,
    key: str,
    workers: list[WorkerProcess],
    rabbitmq: PrivateRabbitMQ,
    database: str,
    how: str,
) -> None:
    prompts = ["[slow:6]", "[slow:6]", "[slow:1]", "[slow:1]", "[slow:2]", ""]
    async with client(server, timeout=JOBS_WITHIN_S) as http:
        jobs = []
        for prompt in prompts:
            body = {"prompt": f"a lighthouse {prompt}", "model": "fake/image"}  # 5 credits
            created = await http.post("/api/v1/generate/image", json=body, headers=auth(key))
            assert created.status_code == 202, created.text
            jobs.append(created.json()["id"])
        # Two run (one slot per worker), four wait in the broker: the outage now.
        for job_id in jobs[:2]:
            await wait_for(http, key, job_id, until=lambda b: b["status"] == "processing")
        went = time.time()
        if how == "kill":
            rabbitmq.kill()
        else:
            rabbitmq.stop()

        # Created while the broker is away: accepted, the database is the truth.
        body = {"prompt": "a boat [slow:1]", "model": "fake/image"}
        created = await http.post("/api/v1/generate/image", json=body, headers=auth(key))
        assert created.status_code == 202, created.text
        assert created.json()["status"] == "queued"
        waiting = created.json()["id"]
        jobs.append(waiting)
        await asyncio.sleep(AWAY_S)
        restarting = time.time()
        rabbitmq.start()
        back = time.time()  # accepting connections

        finished = []
        for job_id in jobs:
            job = await wait_for(http, key, job_id, timeout=JOBS_WITHIN_S)
            assert job["status"] == "completed", job
            assert (job["credits_charged"], job["credits_refunded"]) == (5, 0), job
            # No worker died, so no job ran twice: the running ones kept their leases.
            assert (await stored(database, job_id))[2] == 1, job
            entries = await entries_for(http, key, job_id)
            assert {kind: len(rows) for kind, rows in entries.items()} == {
                "reserve": 1,
                "capture": 1,
            }
            finished.append(job)
        listed = (await http.get("/api/v1/generations?limit=100", headers=auth(key))).json()
        assert {g["id"] for g in listed["data"]} == set(jobs)
        assert await assert_books_balanced(http, key) == (1000 - 5 * len(jobs), 0)

    started = _at(finished[-1], "started_at")
    assert started >= restarting  # dispatched once the broker was back, not before
    print(
        f"\n{how}: broker away {back - went:.1f} s; the job created meanwhile started "
        f"{started - back:.1f} s after it was back; all done "
        f"{max(_at(job, 'completed_at') for job in finished) - back:.1f} s after"
    )
