"""Generations on Replicate, end to end through the ASGI app against the fake Replicate: the
output copied into storage, credits settled once, errors mapped, cancel and timeout reaching the
provider, sandbox keys never reaching it."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import pytest
from PIL import Image

from mediastudio.engines.providers import catalog
from tests.conftest import Api, auth, make_settings, open_api
from tests.providers.conftest import replicate_settings
from tests.providers.fake_replicate import FakeReplicate, Plan

IMAGE = {"model": "prunaai/z-image-turbo", "prompt": "a red bicycle on a beach"}


async def create(api: Api, key: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.post(path, json=body, headers=auth(key))
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


async def ledger_kinds(api: Api, key: str, generation_id: str) -> dict[str, list[int]]:
    """The ledger amounts of one generation, by kind (reserve, capture, refund)."""
    page = (await api.client.get("/api/v1/account/ledger?limit=100", headers=auth(key))).json()
    kinds: dict[str, list[int]] = {}
    for entry in page["data"]:
        if entry["generation_id"] == generation_id:
            kinds.setdefault(entry["kind"], []).append(entry["reserved_delta"])
    return kinds


async def balance(api: Api, key: str) -> tuple[int, int]:
    body = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    return body["credit_balance"], body["credits_reserved"]


async def live_key(api: Api, credits: int = 1000) -> str:
    return await api.key(await api.account(credits=credits))


async def test_a_live_image_is_made_on_replicate_and_copied_into_storage(
    api: Api, fake: FakeReplicate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = await live_key(api, credits=100)
    job = await create(api, key, "/api/v1/generate/image", {**IMAGE, "aspect_ratio": "16:9"})
    assert job["credits_reserved"] == 5  # seed 000's price

    done = await api.wait(key, job["id"])
    assert done["status"] == "completed", done
    assert done["provider"] == "replicate" and done["credits_charged"] == 5
    [prediction] = fake.creates  # exactly one prediction
    assert prediction.model == "prunaai/z-image-turbo"
    assert prediction.input == {
        "prompt": "a red bicycle on a beach",
        "width": 1024,
        "height": 576,
        "output_format": "webp",
    }
    [sent] = fake.requests("POST", "/v1/models/")
    assert sent.headers["authorization"] == f"Bearer {fake.token}"
    # The output is ours now: served from storage at a signed URL, decodable, measured.
    output = done["outputs"][0]
    assert output["url"].startswith("http://testserver/files/")
    image = Image.open(io.BytesIO((await api.client.get(output["url"])).content))
    assert image.size == (1024, 576) == (output["width"], output["height"])
    assert image.format == "WEBP" and output["content_type"] == "image/webp"
    assert await ledger_kinds(api, key, job["id"]) == {"reserve": [5], "capture": [-5]}
    assert await balance(api, key) == (95, 0)
    # The key is a secret: never in an answer, never in the log.
    assert fake.token not in str(done) and fake.token not in caplog.text


async def test_without_a_key_provider_models_are_listed_unavailable_with_the_reason(
    tmp_path: Any, fake: FakeReplicate
) -> None:
    async with open_api(make_settings(tmp_path / "data")) as api:
        key = await live_key(api)
        listed = (await api.client.get("/api/v1/models?type=image", headers=auth(key))).json()
        [entry] = [m for m in listed["data"] if m["id"] == "prunaai/z-image-turbo"]
        assert entry["available"] is False
        assert "MEDIASTUDIO_PROVIDERS__REPLICATE__API_KEY" in entry["unavailable_reason"]
        refused = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "model_unavailable"


async def test_sandbox_keys_never_call_the_provider(api: Api, fake: FakeReplicate) -> None:
    sandbox = await api.key(await api.account(), sandbox=True)
    shapes = []
    for path, body in [
        ("/api/v1/generate/image", {**IMAGE, "aspect_ratio": "9:16"}),
        ("/api/v1/generate/video", {"model": "minimax/hailuo-2.3-fast", "prompt": "waves"}),
        ("/api/v1/generate/video", {"model": "replicate/acme/any", "prompt": "waves"}),
    ]:
        job = await create(api, sandbox, path, body)
        done = await api.wait(sandbox, job["id"])
        assert done["status"] == "completed" and done["sandbox"] is True, done
        assert done["provider"] is None and done["credits_reserved"] == 0
        output = done["outputs"][0]
        shapes.append((output["content_type"], output["width"], output["height"]))
        content = (await api.client.get(output["url"])).content
        if output["content_type"].startswith("image/"):
            assert Image.open(io.BytesIO(content)).size == (576, 1024)
    # The same shapes as the real models give: the sandbox twin of each (Hailuo from text is
    # its 16:9 768p frame; a generic model has no plan, so the generic placeholder).
    assert shapes == [
        ("image/webp", 576, 1024),
        ("video/mp4", 1366, 768),
        ("video/mp4", 640, 360),
    ]
    assert fake.received == []


async def test_a_provider_5xx_fails_the_job_with_provider_error_refunded(
    api: Api, fake: FakeReplicate
) -> None:
    fake.script("create", 500, {"detail": "Internal server error", "status": 500})
    key = await live_key(api, credits=100)
    job = await create(api, key, "/api/v1/generate/image", IMAGE)
    done = await api.wait(key, job["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "provider_error", done
    assert "Internal server error" in done["error"]["message"]
    # Never created twice: a 5xx may hide a prediction that exists.
    assert len(fake.requests("POST", "/v1/models/")) == 1
    assert await ledger_kinds(api, key, job["id"]) == {"reserve": [5], "refund": [-5]}
    assert await balance(api, key) == (100, 0)


async def test_a_content_policy_refusal_is_invalid_prompt_refunded(
    api: Api, fake: FakeReplicate
) -> None:
    fake.plans.append(
        Plan(
            statuses=("starting", "processing", "failed"),
            error="The input or output was flagged as sensitive. Please try again with "
            "different inputs. (E005)",
        )
    )
    key = await live_key(api, credits=100)
    job = await create(api, key, "/api/v1/generate/image", IMAGE)
    done = await api.wait(key, job["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "invalid_prompt", done
    assert "(E005)" in done["error"]["message"] and done["provider"] == "replicate"
    assert await balance(api, key) == (100, 0)


async def test_a_model_failure_is_provider_error(api: Api, fake: FakeReplicate) -> None:
    fake.plans.append(Plan(statuses=("starting", "failed"), error="CUDA out of memory."))
    key = await live_key(api)
    done = await api.wait(key, (await create(api, key, "/api/v1/generate/image", IMAGE))["id"])
    assert done["error"]["code"] == "provider_error" and "CUDA" in done["error"]["message"]


async def test_an_invalid_input_answer_is_invalid_input_with_the_providers_words(
    api: Api, fake: FakeReplicate
) -> None:
    fake.script(
        "create",
        422,
        {"title": "Input validation failed", "detail": "- input.go_fast: Invalid type."},
    )
    key = await live_key(api)
    body = {**IMAGE, "options": {"go_fast": "very"}}
    done = await api.wait(key, (await create(api, key, "/api/v1/generate/image", body))["id"])
    assert done["error"]["code"] == "invalid_input", done
    assert "input.go_fast: Invalid type." in done["error"]["message"]
    assert fake.requests("POST", "/v1/models/")[0].body["input"]["go_fast"] == "very"


async def test_a_429_on_create_waits_for_retry_after_then_creates_once(
    api: Api, fake: FakeReplicate
) -> None:
    throttled = {"detail": "Request was throttled. Expected available in 1 second.", "status": 429}
    fake.script("create", 429, throttled, **{"Retry-After": "1"})
    fake.script("get", 429, throttled)  # no header: the detail's "1 second" is the hint
    key = await live_key(api)
    done = await api.wait(key, (await create(api, key, "/api/v1/generate/image", IMAGE))["id"])
    assert done["status"] == "completed", done
    assert len(fake.requests("POST", "/v1/models/")) == 2 and len(fake.creates) == 1


async def test_a_vanished_prediction_fails_with_provider_error(
    api: Api, fake: FakeReplicate
) -> None:
    fake.plans.append(Plan(vanish=True))
    key = await live_key(api)
    done = await api.wait(key, (await create(api, key, "/api/v1/generate/image", IMAGE))["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "provider_error", done
    assert "no longer knows" in done["error"]["message"]


async def test_polls_that_keep_failing_fail_the_job_and_stop_the_prediction(
    api: Api, fake: FakeReplicate
) -> None:
    for _ in range(3):  # each poll is tried three times
        fake.script("get", 502, {"detail": "Bad gateway"})
    key = await live_key(api, credits=100)
    done = await api.wait(key, (await create(api, key, "/api/v1/generate/image", IMAGE))["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "provider_error", done
    assert "Bad gateway" in done["error"]["message"]
    assert fake.cancelled == [fake.creates[0].id]  # nobody will collect it: stop paying
    assert await balance(api, key) == (100, 0)


async def test_cancelling_a_job_cancels_its_prediction(api: Api, fake: FakeReplicate) -> None:
    fake.plans.append(Plan(stall=True))
    key = await live_key(api, credits=100)
    job = await create(api, key, "/api/v1/generate/image", IMAGE)
    await api.wait(key, job["id"], until=lambda body: body["progress"] >= 10)
    [prediction] = fake.creates
    cancelled = await api.client.post(f"/api/v1/generations/{job['id']}/cancel", headers=auth(key))
    assert cancelled.json()["status"] == "cancelled"
    await _until(lambda: fake.cancelled == [prediction.id])
    assert prediction.status == "canceled"
    assert await balance(api, key) == (100, 0)


async def test_a_job_timeout_cancels_its_prediction(
    tmp_path: Any, fake: FakeReplicate, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Generic models' job timeout, short for the test; ample for a create on loopback.
    monkeypatch.setattr(catalog, "GENERIC_TIMEOUT_S", 3.0)
    fake.plans.append(Plan(stall=True))
    async with open_api(replicate_settings(tmp_path / "data", fake)) as api:
        key = await live_key(api, credits=100)
        body = {"model": "replicate/acme/slow", "prompt": "x"}
        done = await api.wait(key, (await create(api, key, "/api/v1/generate/image", body))["id"])
        assert done["status"] == "failed" and done["error"]["code"] == "job_timeout", done
        assert fake.cancelled == [fake.creates[0].id]
        assert await balance(api, key) == (100, 0)


async def _until(condition: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.02)
