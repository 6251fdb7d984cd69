"""Product image enhancements (seed 004) over HTTP: public presets, Idempotency-Key required,
a batch with a corrupt item ends partially_completed with per-item statuses and only the failed
item refunded."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.api.test_generations import assert_ledger_balanced
from tests.conftest import TERMINAL, Api, auth, make_settings, open_api
from tests.engines.image_scenes import bytes_uri, data_uri, product_shot

URL = "/api/v1/product-image-enhancements"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with open_api(make_settings(tmp_path / "data", disabled_engines=[])) as opened:
        yield opened


def batch(*urls: str, preset: str = "marketplace_square") -> dict[str, Any]:
    return {
        "preset": preset,
        "items": [{"image_url": url, "external_id": f"sku-{i}"} for i, url in enumerate(urls)],
    }


async def wait_batch(api: Api, key: str, batch_id: str) -> dict[str, Any]:
    body = await api.wait(key, batch_id, timeout=60)
    assert body["status"] in TERMINAL
    response = await api.client.get(f"{URL}/{batch_id}", headers=auth(key))
    assert response.status_code == 200
    return dict(response.json())


async def test_presets_are_public(api: Api) -> None:
    response = await api.client.get(f"{URL}/presets")
    assert response.status_code == 200
    body = response.json()
    ids = [preset["id"] for preset in body["presets"]]
    assert ids == [
        "single_product_white_background",
        "marketplace_square",
        "lifestyle_neutral_backdrop",
        "brightness_color_normalization",
    ]
    assert all(
        p["name"] and p["description"] and p["credits_per_item"] == 2 for p in body["presets"]
    )
    assert body["request_id"].startswith("req_")


async def test_idempotency_key_is_required(api: Api) -> None:
    account = await api.account(credits=10)
    key = await api.key(account)
    shot = data_uri(product_shot(80, 60)[0])
    response = await api.client.post(URL, json=batch(shot), headers=auth(key))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and "Idempotency-Key" in error["message"]
    account_view = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    assert account_view["credit_balance"] == 10  # nothing reserved


async def test_items_are_bounded(api: Api) -> None:
    account = await api.account(credits=100)
    key = await api.key(account)
    headers = {**auth(key), "Idempotency-Key": "k"}
    for items in ([], [{"image_url": "data:,x"}] * 21):
        body = {"preset": "marketplace_square", "items": items}
        response = await api.client.post(URL, json=body, headers=headers)
        assert response.status_code == 400
    response = await api.client.post(URL, json=batch("data:,x", preset="nope"), headers=headers)
    assert response.status_code == 400


async def test_a_corrupt_item_fails_alone_and_only_it_is_refunded(api: Api) -> None:
    account = await api.account(credits=50)
    key = await api.key(account)
    shot = data_uri(product_shot(160, 120)[0])
    body = batch(shot, bytes_uri(b"\x89PNG\r\n\x1a\n corrupt"), shot)
    headers = {**auth(key), "Idempotency-Key": "batch-1"}
    created = await api.client.post(URL, json=body, headers=headers)
    assert created.status_code == 202, created.text
    first = created.json()
    enhancement = first["enhancement"]
    assert created.headers["location"] == f"{URL}/{enhancement['id']}"
    assert enhancement["status"] == "queued" and enhancement["total_items"] == 3
    assert enhancement["credits_reserved"] == 6 and enhancement["sandbox"] is False
    assert first["remaining_paid_credits"] == 44 and first["request_id"].startswith("req_")
    assert [item["status"] for item in enhancement["items"]] == ["queued"] * 3

    done = (await wait_batch(api, key, enhancement["id"]))["enhancement"]
    assert done["status"] == "partially_completed", done
    assert (done["completed_items"], done["failed_items"]) == (2, 1)
    items = done["items"]
    assert [(i["external_id"], i["status"]) for i in items] == [
        ("sku-0", "completed"),
        ("sku-1", "failed"),
        ("sku-2", "completed"),
    ]
    assert items[1]["error"]["code"] == "invalid_input" and items[1]["result_url"] is None
    for item in (items[0], items[2]):
        assert item["error"] is None
        image = Image.open(io.BytesIO((await api.client.get(item["result_url"])).content))
        assert image.format == "JPEG" and image.size == (1000, 1000)
        assert image.getpixel((5, 5)) == (255, 255, 255)

    # Exactly the failed item's share (2 of 6 credits) comes back.
    assert (done["credits_charged"], done["credits_refunded"]) == (4, 2)
    ledger = (await api.client.get("/api/v1/account/ledger", headers=auth(key))).json()
    kinds = [(e["kind"], e["amount"], e["reserved_delta"]) for e in ledger["data"]]
    assert kinds[:2] == [("refund", 2, -2), ("capture", 0, -4)] or kinds[:2] == [
        ("capture", 0, -4),
        ("refund", 2, -2),
    ], kinds
    assert ledger["data"][0]["balance_after"] == 46
    account_view = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    assert (account_view["credit_balance"], account_view["credits_reserved"]) == (46, 0)
    await assert_ledger_balanced(api, account)

    # The same key and body: the same batch, as it is now, and nothing charged again.
    replay = await api.client.post(URL, json=body, headers=headers)
    assert replay.status_code == 202 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["enhancement"]["id"] == enhancement["id"]
    assert replay.json()["enhancement"]["status"] == "partially_completed"
    assert replay.json()["remaining_paid_credits"] == 46
    # The same key with another body is refused.
    other = await api.client.post(URL, json=batch(shot), headers=headers)
    assert other.status_code == 422


async def test_another_accounts_batch_and_plain_generations_are_not_found(api: Api) -> None:
    owner = await api.key(await api.account("o@example.com", credits=10))
    stranger = await api.key(await api.account("s@example.com", credits=10))
    shot = data_uri(product_shot(80, 60)[0])
    headers = {**auth(owner), "Idempotency-Key": "x"}
    created = (await api.client.post(URL, json=batch(shot), headers=headers)).json()
    batch_id = created["enhancement"]["id"]
    assert (await api.client.get(f"{URL}/{batch_id}", headers=auth(stranger))).status_code == 404
    image_job = await api.client.post(
        "/api/v1/images/transform",
        json={"image_url": shot, "transformation": "sepia"},
        headers=auth(owner),
    )
    other_id = image_job.json()["id"]
    assert (await api.client.get(f"{URL}/{other_id}", headers=auth(owner))).status_code == 404
    await wait_batch(api, owner, batch_id)


async def test_sandbox_batches_are_free_placeholders(api: Api) -> None:
    account = await api.account(credits=10)
    key = await api.key(account, sandbox=True)
    headers = {**auth(key), "Idempotency-Key": "sandbox-1"}
    shot = data_uri(product_shot(80, 60)[0])
    corrupt = bytes_uri(b"\x89PNG\r\n\x1a\n corrupt")
    body = batch(shot, corrupt, shot)
    created = (await api.client.post(URL, json=body, headers=headers)).json()
    assert created["enhancement"]["sandbox"] is True
    assert created["enhancement"]["credits_reserved"] == 0
    done = (await wait_batch(api, key, created["enhancement"]["id"]))["enhancement"]
    # The placeholders have the live shapes: the corrupt item fails alone, as it would live.
    assert done["status"] == "partially_completed"
    assert [item["status"] for item in done["items"]] == ["completed", "failed", "completed"]
    generation = await api.wait(key, created["enhancement"]["id"])
    assert [(o["width"], o["height"]) for o in generation["outputs"]] == [(1000, 1000)] * 2


async def test_batches_are_listed_newest_first_by_cursor_in_the_keys_mode(api: Api) -> None:
    account = await api.account(credits=10)
    live, sandbox = await api.key(account), await api.key(account, sandbox=True)
    shot = "https://example.com/a.jpg"  # unreachable here: those jobs fail, still listed
    sandbox_ids = []
    for index in range(3):
        headers = {**auth(sandbox), "Idempotency-Key": f"list-{index}"}
        created = await api.client.post(URL, json=batch(shot), headers=headers)
        assert created.status_code == 202, created.text
        sandbox_ids.append(created.json()["enhancement"]["id"])
    # Neither another kind of sandbox job nor a live batch is listed for the sandbox key.
    other = await api.client.post(
        "/api/v1/images/transform",
        json={"image_url": shot, "transformation": "sepia"},
        headers=auth(sandbox),
    )
    live_batch = await api.client.post(
        URL,
        json=batch(data_uri(product_shot(64, 48)[0])),
        headers={**auth(live), "Idempotency-Key": "live-1"},
    )
    assert other.status_code == 202 and live_batch.status_code == 202, live_batch.text
    live_id = live_batch.json()["enhancement"]["id"]

    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = (await api.client.get(URL, params=params, headers=auth(sandbox))).json()
        assert page["object"] == "list" and page["request_id"].startswith("req_")
        assert all(item["object"] == "product_image_enhancement" for item in page["data"])
        assert all(item["sandbox"] and item["preset"] for item in page["data"])
        seen += [item["id"] for item in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        params["starting_after"] = page["next_cursor"]
    assert seen == list(reversed(sandbox_ids))
    live_page = (await api.client.get(URL, headers=auth(live))).json()
    assert [item["id"] for item in live_page["data"]] == [live_id]
    assert (await api.client.get(URL, params={"limit": 101}, headers=auth(live))).status_code == 400

    for key, job_id in [*((sandbox, i) for i in sandbox_ids), (live, live_id)]:
        await api.wait(key, job_id, timeout=60)
    await api.wait(sandbox, other.json()["id"])
