"""Generations end to end through the ASGI app: create, run, outputs, credits, control."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from mediastudio.credits import repository as ledger
from mediastudio.credits.models import LedgerEntry
from tests.conftest import Api, auth

pytestmark = pytest.mark.databases

IMAGE = {"prompt": "a lighthouse", "model": "fake/image"}


async def balance(api: Api, key: str) -> tuple[int, int]:
    body = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    return body["credit_balance"], body["credits_reserved"]


async def assert_ledger_balanced(api: Api, account_id: str) -> None:
    """The account's two columns equal the ledger's sums: no credit is created or lost."""
    async with api.platform.db.read() as session:
        amount, reserved = await ledger.sums(session, account_id)
        from mediastudio.accounts.models import Account

        account = await session.get(Account, account_id)
        assert account is not None
        assert (account.credit_balance, account.credits_reserved) == (amount, reserved)


async def download(api: Api, url: str) -> bytes:
    response = await api.client.get(url)
    assert response.status_code == 200, response.text
    return response.content


async def test_image_job_completes_with_decodable_outputs_and_captures_credits(api: Api) -> None:
    account = await api.account(credits=100)
    key = await api.key(account)
    body = {**IMAGE, "aspect_ratio": "16:9", "output_format": "png", "num_outputs": 2}
    created = await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))
    assert created.status_code == 202
    job = created.json()
    assert created.headers["location"] == f"/api/v1/generations/{job['id']}"
    assert job["status"] == "queued" and job["credits_reserved"] == 10 and not job["sandbox"]
    assert await balance(api, key) == (90, 10)

    done = await api.wait(key, job["id"])
    assert done["status"] == "completed", done
    assert done["progress"] == 100
    assert done["credits_charged"] == 10 and done["credits_refunded"] == 0
    assert len(done["outputs"]) == 2 and done["output_url"] == done["outputs"][0]["url"]
    for output in done["outputs"]:
        image = Image.open(io.BytesIO(await download(api, output["url"])))
        assert image.format == "PNG" and image.size == (1024, 576)
        assert (output["width"], output["height"], output["content_type"]) == (
            1024,
            576,
            "image/png",
        )
    assert await balance(api, key) == (90, 0)
    await assert_ledger_balanced(api, account)


async def test_failed_job_is_refunded_in_full(api: Api) -> None:
    account = await api.account(credits=50)
    key = await api.key(account)
    body = {**IMAGE, "prompt": "boom [fail:provider_error]"}
    job = (await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))).json()
    done = await api.wait(key, job["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "provider_error"
    assert (done["credits_charged"], done["credits_refunded"]) == (0, 5)
    assert await balance(api, key) == (50, 0)
    await assert_ledger_balanced(api, account)


async def test_engine_crash_fails_the_job_not_the_worker(api: Api) -> None:
    key = await api.key(await api.account())
    crash = {**IMAGE, "prompt": "[crash]"}
    job = (await api.client.post("/api/v1/generate/image", json=crash, headers=auth(key))).json()
    done = await api.wait(key, job["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "engine_error"
    assert "crash" not in done["error"]["message"]  # internals stay in the logs
    after = (await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))).json()
    assert (await api.wait(key, after["id"]))["status"] == "completed"


async def test_partial_failure_refunds_only_the_failed_part(api: Api) -> None:
    account = await api.account(credits=100)
    key = await api.key(account)
    body = {**IMAGE, "prompt": "[partial]", "num_outputs": 4}
    job = (await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))).json()
    done = await api.wait(key, job["id"])
    assert done["status"] == "partially_completed"
    assert len(done["outputs"]) == 1
    assert (done["credits_reserved"], done["credits_charged"], done["credits_refunded"]) == (
        20,
        5,
        15,
    )
    assert await balance(api, key) == (95, 0)
    await assert_ledger_balanced(api, account)


async def test_timeout_fails_with_job_timeout_and_refunds(api: Api) -> None:
    account = await api.account(credits=10)
    key = await api.key(account)
    body = {"prompt": "[slow:5]", "model": "fake/quick-timeout"}
    job = (await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))).json()
    done = await api.wait(key, job["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "job_timeout"
    assert await balance(api, key) == (10, 0)
    await assert_ledger_balanced(api, account)


async def test_cancel_reaches_the_running_engine_and_refunds(api: Api) -> None:
    account = await api.account(credits=10)
    key = await api.key(account)
    body = {**IMAGE, "prompt": "[slow:30]"}
    job = (await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))).json()
    await api.wait(key, job["id"], until=lambda b: b["status"] == "processing")
    cancelled = await api.client.post(f"/api/v1/generations/{job['id']}/cancel", headers=auth(key))
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["credits_refunded"] == 5
    assert await balance(api, key) == (10, 0)
    # The engine stops: the worker is free again well before the 30 s sleep would end.
    quick = (await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))).json()
    assert (await api.wait(key, quick["id"], timeout=10))["status"] == "completed"
    final = await api.wait(key, job["id"])
    assert final["status"] == "cancelled" and final["outputs"] == []
    again = await api.client.post(f"/api/v1/generations/{job['id']}/cancel", headers=auth(key))
    assert again.status_code == 409
    await assert_ledger_balanced(api, account)


async def test_retry_runs_a_failed_job_again_with_a_new_reservation(api: Api) -> None:
    account = await api.account(credits=20)
    key = await api.key(account)
    body = {**IMAGE, "prompt": "[fail:engine_error]"}
    job = (await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))).json()
    await api.wait(key, job["id"])
    retried = await api.client.post(f"/api/v1/generations/{job['id']}/retry", headers=auth(key))
    assert retried.status_code == 202
    # The answer is the job as read after the retry committed and was offered to the workers:
    # distributed, a worker may already have claimed it (or even failed it again).
    assert retried.json()["status"] in {"queued", "processing", "failed"}
    assert retried.json()["credits_reserved"] == 10
    done = await api.wait(key, job["id"])
    assert done["status"] == "failed"  # the magic prompt fails again, and is refunded again
    assert done["credits_refunded"] == 10
    assert await balance(api, key) == (20, 0)
    ok = (await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))).json()
    await api.wait(key, ok["id"])
    not_failed = await api.client.post(f"/api/v1/generations/{ok['id']}/retry", headers=auth(key))
    assert not_failed.status_code == 409
    await assert_ledger_balanced(api, account)


async def test_delete_removes_the_row_and_its_files(api: Api) -> None:
    key = await api.key(await api.account())
    job = (await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))).json()
    done = await api.wait(key, job["id"])
    url = done["output_url"]
    assert (await api.client.get(url)).status_code == 200
    deleted = await api.client.delete(f"/api/v1/generations/{job['id']}", headers=auth(key))
    assert deleted.status_code == 204
    assert (
        await api.client.get(f"/api/v1/generations/{job['id']}", headers=auth(key))
    ).status_code == 404
    await asyncio.sleep(0.05)
    assert (await api.client.get(url)).status_code == 404


async def test_list_filters_and_pages_by_offset_and_cursor(api: Api) -> None:
    key = await api.key(await api.account())
    ids = []
    for index in range(5):
        body = {**IMAGE, "external_id": f"sku-{index}"}
        ids.append(
            (await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))).json()[
                "id"
            ]
        )
    speech = {"text": "hello", "model": "fake/speech"}
    await api.client.post("/api/v1/generate/speech", json=speech, headers=auth(key))
    newest_first = list(reversed(ids))

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"type": "image", "limit": 2}
        if cursor:
            params["starting_after"] = cursor
        page = (
            await api.client.get("/api/v1/generations", params=params, headers=auth(key))
        ).json()
        seen += [item["id"] for item in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert seen == newest_first

    offset = await api.client.get(
        "/api/v1/generations", params={"type": "image", "limit": 2, "offset": 2}, headers=auth(key)
    )
    assert [item["id"] for item in offset.json()["data"]] == newest_first[2:4]
    by_external = await api.client.get(
        "/api/v1/generations", params={"external_id": "sku-3"}, headers=auth(key)
    )
    assert [item["id"] for item in by_external.json()["data"]] == [ids[3]]
    too_many = await api.client.get("/api/v1/generations", params={"limit": 101}, headers=auth(key))
    assert too_many.status_code == 400


async def test_sandbox_keys_never_touch_live_credits(api: Api) -> None:
    account = await api.account(credits=3)
    test_key = await api.key(account, sandbox=True)
    body = {"prompt": "x", "num_outputs": 4, "output_format": "jpg"}
    job = (
        await api.client.post("/api/v1/generate/image", json=body, headers=auth(test_key))
    ).json()
    assert job["sandbox"] is True and job["model"] == "fake/image" and job["credits_reserved"] == 0
    done = await api.wait(test_key, job["id"])
    assert done["status"] == "completed" and len(done["outputs"]) == 4
    image = Image.open(io.BytesIO(await download(api, done["output_url"])))
    assert image.format == "JPEG"
    assert await balance(api, test_key) == (3, 0)
    async with api.platform.db.read() as session:
        entries = (await session.execute(select(LedgerEntry))).scalars().all()
    assert [entry.kind for entry in entries] == ["grant"]


async def test_sandbox_media_types(api: Api) -> None:
    key = await api.key(await api.account(), sandbox=True)
    video = {"prompt": "waves", "duration": 2, "aspect_ratio": "9:16", "model": "sandbox/video"}
    speech = {"text": "Hello there, this is a test.", "output_format": "wav"}
    music = {"prompt": "calm", "duration": 5, "output_format": "mp3"}
    jobs = {
        "video": (
            await api.client.post("/api/v1/generate/video", json=video, headers=auth(key))
        ).json(),
        "speech": (
            await api.client.post("/api/v1/generate/voice", json=speech, headers=auth(key))
        ).json(),
        "music": (
            await api.client.post("/api/v1/generate/music", json=music, headers=auth(key))
        ).json(),
    }
    results = {name: await api.wait(key, job["id"]) for name, job in jobs.items()}
    assert results["video"]["outputs"][0]["content_type"] == "video/mp4"
    assert (results["video"]["outputs"][0]["width"], results["video"]["outputs"][0]["height"]) == (
        360,
        640,
    )
    assert results["speech"]["outputs"][0]["content_type"] == "audio/wav"
    assert results["music"]["outputs"][0]["duration_s"] == 5


async def test_account_and_ledger(api: Api) -> None:
    account = await api.account(credits=30)
    key = await api.key(account)
    job = (await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))).json()
    await api.wait(key, job["id"])
    ledger_page = (await api.client.get("/api/v1/account/ledger", headers=auth(key))).json()
    kinds = [(e["kind"], e["amount"], e["reserved_delta"]) for e in ledger_page["data"]]
    assert kinds == [("capture", 0, -5), ("reserve", -5, 5), ("grant", 30, 0)]
    assert ledger_page["data"][0]["balance_after"] == 25


async def test_sandbox_and_live_data_are_separate(api: Api) -> None:
    account = await api.account()
    live = await api.key(account)
    test = await api.key(account, sandbox=True)
    live_job = (
        await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(live))
    ).json()
    test_job = (
        await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(test))
    ).json()
    for key, own, other in ((live, live_job, test_job), (test, test_job, live_job)):
        listed = (await api.client.get("/api/v1/generations", headers=auth(key))).json()
        assert [item["id"] for item in listed["data"]] == [own["id"]]
        hidden = await api.client.get(f"/api/v1/generations/{other['id']}", headers=auth(key))
        assert hidden.status_code == 404
        cancel = await api.client.post(
            f"/api/v1/generations/{other['id']}/cancel", headers=auth(key)
        )
        assert cancel.status_code == 404
