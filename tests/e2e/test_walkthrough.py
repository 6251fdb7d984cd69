"""The README's first start and curl walk-through, against a real server process."""

from __future__ import annotations

import io
import uuid

import httpx
import pytest
from PIL import Image

from tests.e2e.server import (
    GRACEFUL_EXIT,
    LIVE_KEY,
    TEST_KEY,
    ServerProcess,
    auth,
    client,
    wait_for,
)

pytestmark = pytest.mark.e2e

# A plain `mediastudio serve`: the built-in and sandbox engines, and the first-start bootstrap on.
PLAIN = {
    "MEDIASTUDIO_ENGINE_MODULES": None,
    "MEDIASTUDIO_DISABLED_ENGINES": None,
    "MEDIASTUDIO_BOOTSTRAP": None,
}


async def test_first_start_prints_keys_once_and_the_walkthrough_works(
    server: ServerProcess,
) -> None:
    server.start(PLAIN)
    first_log = server.start_log()
    live_keys, test_keys = LIVE_KEY.findall(first_log), TEST_KEY.findall(first_log)
    assert len(live_keys) == 1 and len(test_keys) == 1, first_log
    live, sandbox = live_keys[0], test_keys[0]

    body = {"prompt": "a red bicycle on a beach", "aspect_ratio": "16:9", "output_format": "png"}
    headers = {**auth(sandbox), "Idempotency-Key": str(uuid.uuid4())}
    async with client(server) as http:
        created = await http.post("/api/v1/generate/image", json=body, headers=headers)
        assert created.status_code == 202, created.text
        job = created.json()
        assert job["status"] == "queued" and job["sandbox"] is True
        assert job["credits_reserved"] == 0
        assert created.headers["location"] == f"/api/v1/generations/{job['id']}"

        polled = (await http.get(created.headers["location"], headers=auth(sandbox))).json()
        assert polled["id"] == job["id"]
        done = await wait_for(http, sandbox, job["id"])
        assert done["status"] == "completed", done
        assert done["progress"] == 100 and done["credits_charged"] == 0
        url = done["output_url"]
        assert url.startswith(f"{server.base_url}/files/") and "signature=" in url

        # The output URL is signed: a client with no key at all downloads it.
        async with httpx.AsyncClient(timeout=30.0) as anonymous:
            downloaded = await anonymous.get(url)
        assert downloaded.status_code == 200, downloaded.text
        image = Image.open(io.BytesIO(downloaded.content))
        assert image.format == "PNG" and image.size == (1024, 576)

        # The sandbox spent nothing; the live key sees the demo credits untouched.
        account = (await http.get("/api/v1/account", headers=auth(live))).json()
        assert (account["credit_balance"], account["credits_reserved"]) == (1000, 0)

    # A second start on the same data directory prints no new keys; the old ones still work,
    # and so do output URLs signed after the restart (the signing secret persisted too).
    assert server.stop() in GRACEFUL_EXIT
    assert "Application shutdown complete" in server.current_log()
    server.start(PLAIN)
    second_log = server.start_log()
    assert not LIVE_KEY.search(second_log) and not TEST_KEY.search(second_log), second_log
    assert "First start" not in second_log
    async with client(server) as http:
        for key in (live, sandbox):
            account = await http.get("/api/v1/account", headers=auth(key))
            assert account.status_code == 200, account.text
            assert account.json()["credit_balance"] == 1000
        again = await http.get(f"/api/v1/generations/{job['id']}", headers=auth(sandbox))
        assert again.status_code == 200 and again.json()["status"] == "completed"
        async with httpx.AsyncClient(timeout=30.0) as anonymous:
            downloaded = await anonymous.get(again.json()["output_url"])
        assert downloaded.status_code == 200
        assert Image.open(io.BytesIO(downloaded.content)).size == (1024, 576)
