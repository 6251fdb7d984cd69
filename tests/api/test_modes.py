"""Sandbox and live data stay apart on every list and read route: one account, a live key and a
sandbox key, and neither ever sees a row of the other mode (or an id it then gets 404 for)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_uploads import png_bytes, upload
from tests.conftest import Api, auth, make_settings, open_api
from tests.fetch_servers import LoopbackServer
from tests.webhooks.receivers import Script

pytestmark = pytest.mark.databases

IMAGE = {"prompt": "a lighthouse", "model": "fake/image"}
FAST_WEBHOOKS = {
    "net_allow_hosts": "127.0.0.1",
    "webhook_retry_schedule": "0.2",
    "webhook_poll_interval_s": 0.1,
}


@pytest.fixture
async def api(tmp_path: Path, database_url: str | None) -> AsyncIterator[Api]:
    settings = make_settings(tmp_path / "data", database_url=database_url, **FAST_WEBHOOKS)
    async with open_api(settings) as opened:
        yield opened


async def get(api: Api, key: str, path: str, **params: Any) -> dict[str, Any]:
    response = await api.client.get(path, params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def make_jobs(api: Api, key: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        created = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
        assert created.status_code == 202, created.text
        ids.append((await api.wait(key, created.json()["id"]))["id"])
    return ids


async def delivered(api: Api, key: str, webhook_id: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while True:
        path = f"/api/v1/webhooks/{webhook_id}/deliveries"
        rows: list[dict[str, Any]] = (await get(api, key, path))["data"]
        if len(rows) >= count and all(row["status"] == "succeeded" for row in rows):
            return rows
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.05)


async def test_no_list_or_read_route_shows_the_other_modes_rows(api: Api) -> None:
    account = await api.account(credits=100)
    live, sandbox = await api.key(account), await api.key(account, sandbox=True)
    with LoopbackServer({"/hook": Script().route()}) as receiver:
        created = await api.client.post(
            "/api/v1/webhooks", json={"url": receiver.url("/hook")}, headers=auth(live)
        )
        assert created.status_code == 201, created.text
        webhook_id = created.json()["id"]
        jobs = {live: await make_jobs(api, live, 2), sandbox: await make_jobs(api, sandbox, 1)}
        files = {key: [(await upload(api, key, png_bytes()))["id"]] for key in (live, sandbox)}
        deliveries = {key: await delivered(api, key, webhook_id, len(jobs[key])) for key in jobs}

    for key, other in ((live, sandbox), (sandbox, live)):
        own_jobs = set(jobs[key])
        listed = await get(api, key, "/api/v1/generations")
        assert {item["id"] for item in listed["data"]} == own_jobs
        for job_id in jobs[other]:
            hidden = await api.client.get(f"/api/v1/generations/{job_id}", headers=auth(key))
            assert hidden.status_code == 404

        assert [item["id"] for item in (await get(api, key, "/api/v1/files"))["data"]] == files[key]
        hidden_file = await api.client.get(f"/api/v1/files/{files[other][0]}", headers=auth(key))
        assert hidden_file.status_code == 404

        # Every delivery listed is of this mode's jobs; the other mode's cannot be retried.
        rows = deliveries[key]
        assert {row["generation_id"] for row in rows} == own_jobs
        assert {row["sandbox"] for row in rows} == {key == sandbox}
        for row in deliveries[other]:
            retried = await api.client.post(
                f"/api/v1/webhook-deliveries/{row['id']}/retry", headers=auth(key)
            )
            assert retried.status_code == 404

        # Every generation the ledger names can be read with the same key.
        ledger = (await get(api, key, "/api/v1/account/ledger"))["data"]
        for entry in ledger:
            if entry["generation_id"] is not None:
                readable = await api.client.get(
                    f"/api/v1/generations/{entry['generation_id']}", headers=auth(key)
                )
                assert readable.status_code == 200, entry

        usage = (await get(api, key, "/api/v1/account"))["usage"]
        assert usage["image"]["today"] == len(own_jobs)

    live_ledger = (await get(api, live, "/api/v1/account/ledger"))["data"]
    assert {e["generation_id"] for e in live_ledger} - {None} == set(jobs[live])
    assert (await get(api, sandbox, "/api/v1/account/ledger"))["data"] == []
    sandbox_usage = (await get(api, sandbox, "/api/v1/account"))["usage"]
    assert sandbox_usage["image"]["daily_quota"] is None  # sandbox jobs have no quota


async def test_a_file_of_the_other_mode_is_named_as_such(api: Api) -> None:
    account = await api.account(credits=10)
    live, sandbox = await api.key(account), await api.key(account, sandbox=True)
    live_file = (await upload(api, live, png_bytes()))["id"]
    sandbox_file = (await upload(api, sandbox, png_bytes()))["id"]
    for key, file_id, said in (
        (sandbox, live_file, "uploaded with a live key"),
        (live, sandbox_file, "uploaded with a sandbox key"),
    ):
        body = {"model": "fake/echo", "input": {"url": file_id}}
        refused = await api.client.post("/api/v1/generations", json=body, headers=auth(key))
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["code"] == "invalid_request"
        assert said in error["message"] and file_id in error["message"]
        assert "upload it with POST" not in error["message"]
        assert error["details"]["other_mode"] == [file_id]
    unknown = "file_" + "0" * 26
    body = {"model": "fake/echo", "input": {"url": unknown}}
    refused = await api.client.post("/api/v1/generations", json=body, headers=auth(live))
    assert "upload it with POST /api/v1/files first" in refused.json()["error"]["message"]
