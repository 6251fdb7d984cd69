"""Seed 000 ("AI Visual Studio") clients against MediaStudio, under its base URL
``/compat/seed000/api/v1``: the document's example requests sent as they are (its image and
video creates on the fake Replicate that serves its two models, its list query, its webhook
registration), the answers held to the fields it shows, and ``insufficient_credits`` answered
403 with its code, message and ``details`` as its error example shows; the native ``/api/v1``
keeps 402 for the same refusal."""

from __future__ import annotations

import io
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import TERMINAL, Api, auth, open_api
from tests.providers.conftest import replicate_settings
from tests.providers.fake_replicate import FakeReplicate, RunningFake
from tests.unit.test_fetch import FakeDns

BASE = "/compat/seed000/api/v1"

# The document's examples, verbatim.
IMAGE_EXAMPLE = {
    "prompt": "A futuristic city at sunset, cyberpunk style",
    "model": "prunaai/z-image-turbo",
    "aspect_ratio": "16:9",
}
VIDEO_EXAMPLE = {
    "prompt": "A spaceship flying through an asteroid field",
    "model": "minimax/hailuo-2.3-fast",
    "duration": 5,
}
WEBHOOK_EXAMPLE = {
    "url": "https://your-app.com/webhooks/photoverse",
    "events": ["generation.completed", "generation.failed"],
}
# Its create response's fields, and its error example.
CREATE_FIELDS = {"id", "status", "prompt", "model", "type", "credits_charged", "created_at"}
MODEL_FIELDS = {"id", "name", "type", "credits_per_generation", "description", "category"}
SEED_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
SEED_STATUSES = {"processing", "completed", "failed"}


@pytest.fixture
def fake() -> AsyncIterator[FakeReplicate]:
    with RunningFake() as running:
        yield running


@pytest.fixture
async def api(tmp_path: Path, fake: FakeReplicate) -> AsyncIterator[Api]:
    async with open_api(replicate_settings(tmp_path / "data", fake)) as opened:
        yield opened


async def poll(api: Api, key: str, generation_id: str) -> dict[str, Any]:
    """The seed's client: GET /generations/:id until completed or failed."""
    await api.wait(key, generation_id, until=lambda body: body["status"] in TERMINAL)
    answer = await api.client.get(f"{BASE}/generations/{generation_id}", headers=auth(key))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["status"] in ("completed", "failed")
    return body


async def balance(api: Api, key: str) -> int:
    account = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    return int(account["credit_balance"])


async def test_the_image_example_answers_the_seeds_fields_then_an_image(api: Api) -> None:
    key = await api.key(await api.account(credits=100))
    answer = await api.client.post(f"{BASE}/generate/image", json=IMAGE_EXAMPLE, headers=auth(key))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == CREATE_FIELDS
    assert body["id"].startswith("gen_") and body["status"] == "processing"
    assert body["prompt"] == IMAGE_EXAMPLE["prompt"] and body["model"] == IMAGE_EXAMPLE["model"]
    assert body["type"] == "image" and body["credits_charged"] == 5
    assert SEED_TIME.match(body["created_at"])
    assert await balance(api, key) == 95  # taken on creation, as the seed charges
    assert answer.headers["Location"] == f"{BASE}/generations/{body['id']}"

    done = await poll(api, key, body["id"])
    assert done["status"] == "completed" and done["credits_charged"] == 5
    picture = await api.client.get(done["output_url"])
    width, height = Image.open(io.BytesIO(picture.content)).size
    assert abs(width / height - 16 / 9) < 0.01
    assert await balance(api, key) == 95


async def test_the_video_example_answers_the_seeds_fields(api: Api) -> None:
    key = await api.key(await api.account(credits=1000))
    answer = await api.client.post(f"{BASE}/generate/video", json=VIDEO_EXAMPLE, headers=auth(key))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == CREATE_FIELDS and body["type"] == "video"
    assert body["status"] == "processing" and body["credits_charged"] == 450
    assert body["model"] == "minimax/hailuo-2.3-fast"
    done = await poll(api, key, body["id"])
    assert done["status"] == "completed" and done["outputs"][0]["content_type"] == "video/mp4"


async def test_insufficient_credits_is_the_seeds_403(api: Api) -> None:
    key = await api.key(await api.account(credits=2))
    answer = await api.client.post(f"{BASE}/generate/image", json=IMAGE_EXAMPLE, headers=auth(key))
    assert answer.status_code == 403, answer.text
    error = answer.json()["error"]
    assert error["code"] == "insufficient_credits"
    assert error["message"].startswith("You need 5 credits but only have 2")
    assert error["details"] == {"required": 5, "available": 2}
    assert await balance(api, key) == 2
    # The native API keeps the status that means it (DESIGN.md), with the same body.
    native = await api.client.post("/api/v1/generate/image", json=IMAGE_EXAMPLE, headers=auth(key))
    assert native.status_code == 402 and native.json()["error"]["details"] == error["details"]


async def test_the_seeds_other_errors_keep_their_codes(api: Api) -> None:
    missing = await api.client.post(f"{BASE}/generate/image", json=IMAGE_EXAMPLE)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    wrong = await api.client.get(f"{BASE}/generations", headers=auth("ms_live_nope"))
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    key = await api.key(await api.account(), scopes=["read"])
    scope = await api.client.post(f"{BASE}/generate/image", json=IMAGE_EXAMPLE, headers=auth(key))
    assert scope.status_code == 403 and scope.json()["error"]["code"] == "insufficient_scope"
    full = await api.key(await api.account("b@example.com"))
    invalid = await api.client.post(f"{BASE}/generate/image", json={}, headers=auth(full))
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "invalid_request"
    unknown = await api.client.get(f"{BASE}/generations/gen_nope", headers=auth(full))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


async def test_the_list_example_and_the_seeds_statuses(api: Api, fake: FakeReplicate) -> None:
    key = await api.key(await api.account(credits=100))
    first = await api.client.post(f"{BASE}/generate/image", json=IMAGE_EXAMPLE, headers=auth(key))
    await poll(api, key, first.json()["id"])
    listed = await api.client.get(f"{BASE}/generations?limit=10&type=image", headers=auth(key))
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["data"]
    assert item["id"] == first.json()["id"] and item["status"] == "completed"
    assert item["type"] == "image" and item["output_url"]
    # A cancelled job reads failed (the seed's statuses), under the seed's status filter too.
    second = await api.client.post(f"{BASE}/generate/image", json=IMAGE_EXAMPLE, headers=auth(key))
    second_id = second.json()["id"]
    cancelled = await api.client.post(f"/api/v1/generations/{second_id}/cancel", headers=auth(key))
    assert cancelled.status_code == 200, cancelled.text
    one = await api.client.get(f"{BASE}/generations/{second_id}", headers=auth(key))
    assert one.json()["status"] == "failed" and one.json()["credits_refunded"] == 5
    failed = await api.client.get(f"{BASE}/generations?status=failed", headers=auth(key))
    assert [g["id"] for g in failed.json()["data"]] == [second_id]
    everything = await api.client.get(f"{BASE}/generations", headers=auth(key))
    assert {g["status"] for g in everything.json()["data"]} <= SEED_STATUSES
    assert len(everything.json()["data"]) == 2
    nonsense = await api.client.get(f"{BASE}/generations?status=done", headers=auth(key))
    assert nonsense.status_code == 400


async def test_the_models_example_fields(api: Api) -> None:
    key = await api.key(await api.account())
    answer = await api.client.get(f"{BASE}/models", headers=auth(key))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == len(body["data"])
    models = {model["id"]: model for model in body["data"]}
    z_image, hailuo = models["prunaai/z-image-turbo"], models["minimax/hailuo-2.3-fast"]
    assert set(z_image) >= MODEL_FIELDS and set(hailuo) >= MODEL_FIELDS
    assert (z_image["type"], z_image["credits_per_generation"]) == ("image", 5)
    assert (hailuo["type"], hailuo["credits_per_generation"]) == ("video", 450)
    videos = (await api.client.get(f"{BASE}/models?type=video", headers=auth(key))).json()
    assert {model["type"] for model in videos["data"]} == {"video"}


async def test_the_webhook_example_registers_an_endpoint(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The example's host, resolved to a public address (there is no network here).
    dns = FakeDns()
    dns.add("your-app.com", ["93.184.215.14"])
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    key = await api.key(await api.account())
    answer = await api.client.post(f"{BASE}/webhooks", json=WEBHOOK_EXAMPLE, headers=auth(key))
    assert answer.status_code == 201, answer.text
    endpoint = answer.json()
    assert endpoint["url"] == WEBHOOK_EXAMPLE["url"]
    assert endpoint["events"] == WEBHOOK_EXAMPLE["events"] and endpoint["secret"]
    listed = await api.client.get(f"{BASE}/webhooks", headers=auth(key))
    assert [e["id"] for e in listed.json()["data"]] == [endpoint["id"]]
    patched = await api.client.patch(
        f"{BASE}/webhooks/{endpoint['id']}",
        json={"events": ["generation.completed"]},
        headers=auth(key),
    )
    assert patched.status_code == 200 and patched.json()["events"] == ["generation.completed"]
    deleted = await api.client.delete(f"{BASE}/webhooks/{endpoint['id']}", headers=auth(key))
    assert deleted.status_code == 204
