"""Faults of the distributed deployment that lose nothing (docs/deployment.md, "Faults").

- An API process killed (SIGKILL) while creates are inside their transactions: on PostgreSQL a
  create is one transaction (the job, the account's debit and its ``reserve`` ledger entry), so
  every reservation belongs to a job that exists and the balance is the grants less what the
  existing jobs took. The creates are held mid-transaction on purpose: the test locks the
  ledger table, so each create waits right before its ledger entry, after it inserted its job
  and debited its account, and the process is killed there.
- The broker and the event bus (one private Redis, since the development RabbitMQ and Redis are
  shared and cannot be restarted) killed and started empty while jobs run and wait: every job
  completes exactly once (one attempt, one reserve, one capture), and the event streams of
  their listeners end with the final state.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
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
from tests.live_server import read_sse
from tests.postgres import PostgresServer, asyncpg_dsn
from tests.redis_server import PrivateRedis

pytestmark = [
    pytest.mark.e2e,
    # It builds its own distributed deployment (database, broker, storage, workers); under the
    # switch the suite's deployment settings would be mixed into its processes' environment.
    pytest.mark.embedded_only(reason="sets up a distributed deployment of its own"),
]

IMAGE = {"prompt": "a lighthouse", "model": "fake/image"}  # 5 credits
HELD_CREATES = 6
# Budgets for a broken build to fail in, not speed checks.
BLOCKED_WITHIN_S = 30.0
JOBS_WITHIN_S = 60.0


@pytest.fixture
def database(postgres_server: PostgresServer) -> Iterator[str]:
    name, url = postgres_server.create()
    try:
        yield url
    finally:
        postgres_server.drop(name)


async def until(check: Any, what: str, within: float = BLOCKED_WITHIN_S) -> None:
    """Poll the coroutine function ``check`` until it returns true."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:g} s: {what}")
        await asyncio.sleep(0.05)


async def books(connection: asyncpg.Connection) -> dict[str, Any]:
    """What the database says about money, read in one snapshot: reservations without a job,
    jobs without exactly one matching reservation, and per account whether the balance and
    the reserved credits follow from the grants and the jobs that exist."""
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        orphans = await connection.fetchval(
            """SELECT count(*) FROM credit_ledger l WHERE l.generation_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM generations g WHERE g.id = l.generation_id)"""
        )
        unreserved = await connection.fetchval(
            """SELECT count(*) FROM generations g WHERE g.credits_reserved > 0 AND
               (SELECT count(*) FROM credit_ledger l WHERE l.generation_id = g.id
                AND l.kind = 'reserve' AND -l.amount = g.credits_reserved) <> 1"""
        )
        accounts = await connection.fetch(
            """SELECT a.id, a.credit_balance, a.credits_reserved,
                 (SELECT coalesce(sum(amount), 0) FROM credit_ledger
                   WHERE account_id = a.id AND kind = 'grant') AS granted,
                 (SELECT coalesce(sum(credits_reserved - credits_refunded), 0) FROM generations
                   WHERE account_id = a.id) AS spent,
                 (SELECT coalesce(sum(credits_reserved - credits_charged - credits_refunded), 0)
                   FROM generations WHERE account_id = a.id) AS held,
                 (SELECT coalesce(sum(amount), 0) FROM credit_ledger
                   WHERE account_id = a.id) AS ledger_balance,
                 (SELECT coalesce(sum(reserved_delta), 0) FROM credit_ledger
                   WHERE account_id = a.id) AS ledger_reserved
               FROM accounts a"""
        )
        jobs = await connection.fetchval("SELECT count(*) FROM generations")
    for account in accounts:
        assert account["credit_balance"] == account["granted"] - account["spent"], dict(account)
        assert account["credits_reserved"] == account["held"], dict(account)
        assert account["credit_balance"] == account["ledger_balance"], dict(account)
        assert account["credits_reserved"] == account["ledger_reserved"], dict(account)
    assert (orphans, unreserved) == (0, 0)
    return {"jobs": jobs, "reserved": sum(a["credits_reserved"] for a in accounts)}


async def test_an_api_killed_mid_create_leaves_no_reservation_without_its_job(
    server: ServerProcess, database: str
) -> None:
    server.env = {"MEDIASTUDIO_DATABASE_URL": database}
    # The API alone: its jobs stay queued and reserved, so only creates write the ledger while
    # they are held; the restarted server runs them.
    server.args = ("--no-workers",)
    key = server.start_with_account(credits=1000)
    dsn = asyncpg_dsn(database)
    database_name = dsn.rpartition("/")[2]
    connection = await asyncpg.connect(dsn)
    try:
        async with client(server) as http:
            accepted = await asyncio.gather(
                *(
                    http.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
                    for _ in "x" * 8
                )
            )
            assert {r.status_code for r in accepted} == {202}, [r.text for r in accepted]
            before = [r.json()["id"] for r in accepted]

            # Creates held inside their transactions: the first of the account's creates waits
            # for the ledger after inserting its job and debiting the account; the others wait
            # for the account's row, which that one holds.
            holder = connection.transaction()
            await holder.start()
            await connection.execute("LOCK TABLE credit_ledger IN EXCLUSIVE MODE")
            held = [
                asyncio.create_task(
                    http.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
                )
                for _ in range(HELD_CREATES)
            ]

            async def all_waiting() -> bool:
                waiting = await connection.fetchval(
                    """SELECT count(*) FROM pg_stat_activity WHERE datname = $1
                       AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()""",
                    database_name,
                )
                return bool(waiting == HELD_CREATES)

            await until(all_waiting, f"{HELD_CREATES} creates waiting on locks")
            waiting_for_ledger = await connection.fetchval(
                """SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                   WHERE NOT l.granted AND c.relname = 'credit_ledger'"""
            )
            assert waiting_for_ledger == 1  # the one create that wrote its job and debit

            assert server.stop(signal.SIGKILL) == -signal.SIGKILL
            for outcome in await asyncio.gather(*held, return_exceptions=True):
                assert isinstance(outcome, httpx.HTTPError), outcome  # none was answered
            await holder.commit()  # the held transactions go on, find their client gone

            async def server_gone() -> bool:
                left = await connection.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                    "AND pid <> pg_backend_pid() AND state <> 'idle'",
                    database_name,
                )
                return bool(left == 0)

            await until(server_gone, "the killed process's transactions to end")
        # Exactly the acknowledged jobs, each holding its reservation.
        assert await books(connection) == {"jobs": len(before), "reserved": 5 * len(before)}

        server.args = ()  # with its workers this time: they run every job, charged once
        server.start()
        async with client(server) as http:
            created = await http.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
            assert created.status_code == 202, created.text
            after = [*before, created.json()["id"]]
            for job_id in after:
                job = await wait_for(http, key, job_id)
                assert job["status"] == "completed", job
            listed = (await http.get("/api/v1/generations?limit=100", headers=auth(key))).json()
            assert {g["id"] for g in listed["data"]} == set(after)
            assert await assert_books_balanced(http, key) == (1000 - 5 * (len(before) + 1), 0)
        assert await books(connection) == {"jobs": len(before) + 1, "reserved": 0}
    finally:
        await connection.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


async def _final_event(http: httpx.AsyncClient, key: str, job_id: str) -> dict[str, Any]:
    """Follow one job's event stream to its end; its last event."""
    last: dict[str, Any] = {}
    async with http.stream("GET", f"/api/v1/generations/{job_id}/events", headers=auth(key)) as r:
        assert r.status_code == 200, await r.aread()
        async for event in read_sse(r):
            if event.event != ":":
                last = {"type": event.event, **event.data}
    return last


async def test_the_broker_and_event_bus_restarted_empty_under_load_lose_no_job(
    request: pytest.FixtureRequest, server: ServerProcess, database: str, broker: PrivateRedis
) -> None:
    server.env = {
        "MEDIASTUDIO_DATABASE_URL": database,
        "MEDIASTUDIO_BROKER_URL": broker.url(0),
        "MEDIASTUDIO_REDIS_URL": broker.url(1),  # live events and rate limits
        # A lost offer is sent again after the lease: seconds, not the default 30.
        "MEDIASTUDIO_JOB_LEASE_S": "3",
        "MEDIASTUDIO_EVENTS_HEARTBEAT_S": "0.5",
    }
    server.args = ("--no-workers",)
    key = server.start_with_account(credits=1000)
    worker = WorkerProcess(server, "cpu", "cpu")  # one slot
    try:
        await _broker_restart(server, key, worker, broker, database)
    finally:
        worker.stop(signal.SIGKILL)
        if request.node.stash.get(FAILED, False):
            print(f"----- {worker.log_path.name} -----\n{worker.log()}")
            print(f"----- redis -----\n{broker.log()}")


async def _broker_restart(
    server: ServerProcess, key: str, worker: WorkerProcess, broker: PrivateRedis, database: str
) -> None:
    slow = {"prompt": "a lighthouse [slow:1]", "model": "fake/image"}
    worker.wait_ready()
    async with client(server, timeout=JOBS_WITHIN_S) as http:
        jobs = []
        for _ in range(3):
            created = await http.post("/api/v1/generate/image", json=slow, headers=auth(key))
            assert created.status_code == 202, created.text
            jobs.append(created.json()["id"])
        listeners = [asyncio.create_task(_final_event(http, key, job_id)) for job_id in jobs]
        # One job runs (the worker has one slot), two wait in the broker: the outage now.
        await wait_for(http, key, jobs[0], until=lambda b: b["status"] != "queued")
        broker.stop()
        # Created while the broker is down: accepted (the database is the truth).
        created = await http.post("/api/v1/generate/image", json=slow, headers=auth(key))
        assert created.status_code == 202, created.text
        jobs.append(created.json()["id"])
        listeners.append(asyncio.create_task(_final_event(http, key, jobs[-1])))
        await asyncio.sleep(1)  # everyone notices the broker is gone
        broker.start()  # empty: every message and event it held is gone

        for job_id in jobs:
            job = await wait_for(http, key, job_id, timeout=JOBS_WITHIN_S)
            assert job["status"] == "completed", job
            assert (job["credits_charged"], job["credits_refunded"]) == (5, 0), job
            assert (await stored(database, job_id))[2] == 1  # run once, never twice
            entries = await entries_for(http, key, job_id)
            assert {kind: len(rows) for kind, rows in entries.items()} == {
                "reserve": 1,
                "capture": 1,
            }
        finals = await asyncio.wait_for(asyncio.gather(*listeners), JOBS_WITHIN_S)
        for job_id, final in zip(jobs, finals, strict=True):
            assert final["type"] == "completed", (job_id, final)
            assert final["data"]["generation"]["id"] == job_id
        assert await assert_books_balanced(http, key) == (1000 - 5 * len(jobs), 0)
