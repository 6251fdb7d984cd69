"""Cancelling over HTTP stops the engine in the server process and refunds at once."""

from __future__ import annotations

import pytest

from tests.e2e.server import (
    ServerProcess,
    assert_books_balanced,
    auth,
    client,
    entries_for,
    wait_for,
)

pytestmark = pytest.mark.e2e


async def test_cancel_while_processing_refunds_and_frees_the_worker(
    server: ServerProcess,
) -> None:
    # One worker: the quick job below can only run once the cancelled engine has let go.
    key = server.start_with_account({"MEDIASTUDIO_WORKERS_CPU": "1"}, credits=10)
    async with client(server) as http:
        slow = {"prompt": "a lighthouse [slow:30]", "model": "fake/image"}
        created = await http.post("/api/v1/generate/image", json=slow, headers=auth(key))
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        await wait_for(http, key, job_id, until=lambda b: b["status"] == "processing")

        cancelled = await http.post(f"/api/v1/generations/{job_id}/cancel", headers=auth(key))
        assert cancelled.status_code == 200, cancelled.text
        body = cancelled.json()
        assert body["status"] == "cancelled"
        assert (body["credits_charged"], body["credits_refunded"]) == (0, 5)
        assert await assert_books_balanced(http, key) == (10, 0)

        quick = {"prompt": "a lighthouse", "model": "fake/image"}
        created = await http.post("/api/v1/generate/image", json=quick, headers=auth(key))
        assert created.status_code == 202, created.text
        done = await wait_for(http, key, created.json()["id"], timeout=15)
        assert done["status"] == "completed", done

        final = await wait_for(http, key, job_id)
        assert final["status"] == "cancelled" and final["outputs"] == []
        entries = await entries_for(http, key, job_id)
        assert {kind: len(rows) for kind, rows in entries.items()} == {"reserve": 1, "refund": 1}
        again = await http.post(f"/api/v1/generations/{job_id}/cancel", headers=auth(key))
        assert again.status_code == 409
        assert await assert_books_balanced(http, key) == (5, 0)
