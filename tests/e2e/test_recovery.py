"""A server stopped in the middle of a job, killed or asked politely, loses nothing."""

from __future__ import annotations

import io
import signal
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.deployment import stored_row
from tests.e2e.server import (
    GRACEFUL_EXIT,
    ServerProcess,
    assert_books_balanced,
    auth,
    client,
    entries_for,
    wait_for,
)

pytestmark = pytest.mark.e2e

# A lease far longer than the tests' deadlines: a job can only come back in time through the
# start-up pass (dead process on this host) or the graceful shutdown's own requeue, never by
# waiting for its lease to expire.
LONG_LEASE = {"MEDIASTUDIO_JOB_LEASE_S": "120"}
SLOW_IMAGE = {"prompt": "a lighthouse [slow:3]", "model": "fake/image"}  # 5 credits
DEADLINE_S = 45.0


async def start_slow_job(server: ServerProcess, key: str) -> str:
    """Create the slow job and return its id once a worker is running it."""
    async with client(server) as http:
        created = await http.post("/api/v1/generate/image", json=SLOW_IMAGE, headers=auth(key))
        assert created.status_code == 202, created.text
        job_id: str = created.json()["id"]
        running = await wait_for(http, key, job_id, until=lambda b: b["status"] != "queued")
        assert running["status"] == "processing", running
        account = (await http.get("/api/v1/account", headers=auth(key))).json()
        assert (account["credit_balance"], account["credits_reserved"]) == (95, 5)
    return job_id


async def stored_job(server: ServerProcess, job_id: str) -> tuple[str, str | None]:
    """``(status, worker_id)`` straight from the database, while no server runs."""
    assert not server.running
    found = await stored_row(
        server.data_dir, "SELECT status, worker_id FROM generations WHERE id = ?", job_id
    )
    assert found is not None, job_id
    return found[0], found[1]


async def assert_completed_once(http: httpx.AsyncClient, key: str, job: dict[str, Any]) -> None:
    assert job["status"] == "completed", job
    assert (job["credits_reserved"], job["credits_charged"], job["credits_refunded"]) == (5, 5, 0)
    entries = await entries_for(http, key, job["id"])
    assert {kind: len(rows) for kind, rows in entries.items()} == {"reserve": 1, "capture": 1}
    downloaded = await http.get(job["output_url"])
    assert downloaded.status_code == 200, downloaded.text
    image = Image.open(io.BytesIO(downloaded.content))
    assert Image.MIME[image.format or ""] == job["outputs"][0]["content_type"]
    assert image.size == (job["outputs"][0]["width"], job["outputs"][0]["height"])


async def test_server_killed_mid_job_finishes_or_refunds_it_after_restart(
    server: ServerProcess,
) -> None:
    key = server.start_with_account(LONG_LEASE, credits=100)
    job_id = await start_slow_job(server, key)

    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    assert (await stored_job(server, job_id))[0] == "processing"  # held by a process that is gone
    server.start(LONG_LEASE)  # its start-up sweep releases what the dead process held

    async with client(server) as http:
        job = await wait_for(http, key, job_id, timeout=DEADLINE_S)
        if job["status"] == "completed":  # run again from the start: captured exactly once
            await assert_completed_once(http, key, job)
            expected_balance = 95
        else:  # given up: refunded in full, nothing captured
            assert job["status"] == "failed", job
            assert (job["credits_charged"], job["credits_refunded"]) == (0, 5)
            entries = await entries_for(http, key, job_id)
            assert {kind: len(rows) for kind, rows in entries.items()} == {
                "reserve": 1,
                "refund": 1,
            }
            expected_balance = 100
        assert await assert_books_balanced(http, key) == (expected_balance, 0)


async def test_sigterm_mid_job_requeues_it_and_the_next_start_completes_it(
    server: ServerProcess,
) -> None:
    key = server.start_with_account(LONG_LEASE, credits=100)
    job_id = await start_slow_job(server, key)

    assert server.stop(signal.SIGTERM) in GRACEFUL_EXIT
    assert "Application shutdown complete" in server.current_log()
    # The graceful stop put the job back in the queue itself, holding nothing.
    assert (await stored_job(server, job_id)) == ("queued", None)
    server.start(LONG_LEASE)

    async with client(server) as http:
        job = await wait_for(http, key, job_id, timeout=DEADLINE_S)
        await assert_completed_once(http, key, job)
        assert await assert_books_balanced(http, key) == (95, 0)
