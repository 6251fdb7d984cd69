"""A full data volume is an expected condition: uploads answer 507, creates 503 with
Retry-After, jobs that do not fit fail ``storage_full`` refunded, cancels still work, and
/readyz says so. Run on a real 8 MiB tmpfs as the data directory (root only; skipped otherwise).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_uploads import png_bytes
from tests.conftest import Api, auth, make_settings, open_api
from tests.fakes import BIG_OUTPUT_CREDITS, IMAGE_CREDITS
from tests.volumes import MIB, fill, free_bytes, small_volume

FLOOR = 2 * MIB
SLOW_IMAGE = {"prompt": "a lighthouse [slow:60]", "model": "fake/image"}
IMAGE = {"prompt": "a lighthouse", "model": "fake/image"}


@asynccontextmanager
async def api_on_small_volume(tmp_path: Path, **settings: Any) -> AsyncIterator[tuple[Api, Path]]:
    with small_volume(tmp_path / "volume") as volume:
        async with open_api(make_settings(volume / "data", **settings)) as api:
            yield api, volume


async def account_state(api: Api, key: str) -> tuple[int, int]:
    body = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    return body["credit_balance"], body["credits_reserved"]


async def ledger_of(api: Api, key: str, generation_id: str) -> list[tuple[str, int, int]]:
    page = (await api.client.get("/api/v1/account/ledger", headers=auth(key))).json()
    entries = [e for e in page["data"] if e["generation_id"] == generation_id]
    return sorted((e["kind"], e["amount"], e["reserved_delta"]) for e in entries)


async def readyz(api: Api) -> tuple[int, dict[str, Any]]:
    api.platform.disk.forget()  # the figure is cached for a second; read the volume now
    response = await api.client.get("/readyz")
    return response.status_code, response.json()


def refused_for_space(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == "insufficient_storage"
    assert int(response.headers["retry-after"]) > 0


async def test_a_job_whose_output_does_not_fit_fails_storage_full_and_is_refunded(
    tmp_path: Path,
) -> None:
    async with api_on_small_volume(tmp_path, min_free_bytes=FLOOR) as (api, volume):
        key = await api.key(await api.account(credits=50))
        status, ready = await readyz(api)
        assert status == 200 and ready["disk"]["ok"] is True
        assert FLOOR < ready["disk"]["free_bytes"] <= 8 * MIB
        before = free_bytes(volume)

        body = {"model": "fake/big-output", "input": {"mebibytes": 16}}
        created = await api.client.post("/api/v1/generations", json=body, headers=auth(key))
        assert created.status_code == 202, created.text
        done = await api.wait(key, created.json()["id"])

        assert done["status"] == "failed"
        assert done["error"]["code"] == "storage_full", done["error"]
        assert (done["credits_charged"], done["credits_refunded"]) == (0, BIG_OUTPUT_CREDITS)
        assert await account_state(api, key) == (50, 0)
        assert await ledger_of(api, key, done["id"]) == [
            ("refund", BIG_OUTPUT_CREDITS, -BIG_OUTPUT_CREDITS),
            ("reserve", -BIG_OUTPUT_CREDITS, BIG_OUTPUT_CREDITS),
        ]
        # The partial output is gone before the job's end was committed: the space is back.
        assert not any((volume / "data" / "work").glob(f"{done['id']}/*"))
        assert free_bytes(volume) >= before - MIB
        # And the server goes on working.
        again = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
        assert (await api.wait(key, again.json()["id"]))["status"] == "completed"


async def test_below_the_floor_new_work_is_refused_and_cancel_still_works(
    tmp_path: Path,
) -> None:
    async with api_on_small_volume(tmp_path, min_free_bytes=FLOOR) as (api, volume):
        key = await api.key(await api.account(credits=50))
        running = await api.client.post(
            "/api/v1/generate/image", json=SLOW_IMAGE, headers=auth(key)
        )
        job = running.json()["id"]
        await api.wait(key, job, until=lambda body: body["status"] == "processing")

        filler = fill(volume, leave=MIB)
        status, ready = await readyz(api)
        assert status == 503 and ready["status"] == "unavailable"
        assert ready["disk"]["ok"] is False and ready["disk"]["free_bytes"] < FLOOR

        upload = await api.client.post(
            "/api/v1/files", files={"file": ("a.png", png_bytes(), "image/png")}, headers=auth(key)
        )
        refused_for_space(upload, 507)
        files = (await api.client.get("/api/v1/files", headers=auth(key))).json()
        assert files["data"] == []

        create = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
        refused_for_space(create, 503)
        assert await account_state(api, key) == (50 - IMAGE_CREDITS, IMAGE_CREDITS)

        cancelled = await api.client.post(f"/api/v1/generations/{job}/cancel", headers=auth(key))
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert await account_state(api, key) == (50, 0)

        filler.unlink()
        assert (await readyz(api))[0] == 200
        create = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
        assert create.status_code == 202, create.text


def multipart(content: bytes) -> tuple[str, bytes]:
    boundary = "diskfullboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        f"Content-Type: image/png\r\n\r\n"
    ).encode()
    return boundary, body + content + f"\r\n--{boundary}--\r\n".encode()


@pytest.mark.embedded_only(
    reason="fills the data directory's disk; distributed, outputs and uploads go to S3"
)
async def test_writes_that_hit_a_full_disk_answer_507_and_503_not_500(tmp_path: Path) -> None:
    # No floor: the writes themselves run into ENOSPC (the spool file, SQLite's WAL).
    async with api_on_small_volume(tmp_path, min_free_bytes=0) as (api, volume):
        key = await api.key(await api.account(credits=50))
        # An empty WAL, so that SQLite's next commit must grow a file on the full volume.
        with sqlite3.connect(volume / "data" / "mediastudio.db") as connection:
            busy, *_ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
        fill(volume)
        # Reads go on: the key's first use cannot record last_used_at, and need not.
        assert await account_state(api, key) == (50, 0)

        boundary, body = multipart(png_bytes())

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: no early refusal
            yield body

        headers = {**auth(key), "Content-Type": f"multipart/form-data; boundary={boundary}"}
        upload = await api.client.post("/api/v1/files", content=chunked(), headers=headers)
        refused_for_space(upload, 507)
        assert not any((volume / "data" / "uploads").iterdir())

        create = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
        refused_for_space(create, 503)
        assert await account_state(api, key) == (50, 0)


async def test_outputs_that_do_not_fit_in_storage_fail_the_job_and_leave_nothing_stored(
    tmp_path: Path,
) -> None:
    # Storage on its own small volume: the output is written fine, then cannot be stored.
    with small_volume(tmp_path / "storage", size_mib=4) as storage:
        settings = make_settings(
            tmp_path / "data", storage_url=f"file://{storage}", min_free_bytes=0
        )
        async with open_api(settings) as api:
            key = await api.key(await api.account(credits=50))
            body = {"model": "fake/big-output", "input": {"mebibytes": 6}}
            created = await api.client.post("/api/v1/generations", json=body, headers=auth(key))
            done = await api.wait(key, created.json()["id"])

            assert (done["status"], done["error"]["code"]) == ("failed", "storage_full")
            assert done["outputs"] == [] and done["credits_refunded"] == BIG_OUTPUT_CREDITS
            assert await account_state(api, key) == (50, 0)
            assert not any(storage.rglob("*.bin"))
            assert free_bytes(storage) > 3 * MIB
