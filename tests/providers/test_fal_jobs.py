"""Generations on fal, end to end through the ASGI app against the fake fal: a route whose
provider has no key is skipped, the output is copied into storage, cancel reaches fal, and a
restart resumes the same fal request."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.conftest import auth, open_api
from tests.providers.conftest import providers_settings
from tests.providers.fake_fal import FakeFal, Plan
from tests.providers.test_replicate_jobs import _until, balance, create, ledger_kinds, live_key
from tests.providers.test_replicate_restart import checkpoint_of

FLUX = {"model": "flux-schnell", "prompt": "a red bicycle", "width": 256, "height": 320}


async def test_with_only_a_fal_key_the_fal_route_serves_the_alias(
    tmp_path: Path, fal: FakeFal
) -> None:
    async with open_api(providers_settings(tmp_path / "data", fal=fal)) as api:
        key = await live_key(api, credits=100)
        job = await create(api, key, "/api/v1/generate/image", {**FLUX, "seed": 9})
        assert job["credits_reserved"] == 5
        done = await api.wait(key, job["id"])
        assert done["status"] == "completed", done
        [queued] = fal.submits
        assert queued.endpoint == "fal-ai/flux/schnell"
        assert queued.input == {
            "prompt": "a red bicycle",
            "image_size": {"width": 896, "height": 1088},  # FLUX's 4:5, nearest 256x320
            "num_images": 1,
            "output_format": "png",
            "seed": 9,
        }
        assert done["provider"] == "fal"
        [attempt] = done["attempts"]  # Replicate's route has no key: skipped, not attempted
        assert attempt["route"] == "fal/fal-ai/flux/schnell" and attempt["outcome"] == "succeeded"
        assert attempt["job_id"] == queued.id and attempt["latency_ms"] >= 0
        output = done["outputs"][0]
        image = Image.open(io.BytesIO((await api.client.get(output["url"])).content))
        assert image.size == (896, 1088) == (output["width"], output["height"])
        assert output["content_type"] == "image/png"
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [5], "capture": [-5]}
        assert await balance(api, key) == (95, 0)


async def test_any_fal_endpoint_runs_with_its_own_options(tmp_path: Path, fal: FakeFal) -> None:
    async with open_api(providers_settings(tmp_path / "data", fal=fal)) as api:
        key = await live_key(api)
        body = {
            "model": "fal/fal-ai/flux/dev",
            "input": {"prompt": "x", "options": {"guidance_scale": 3.5, "image_size": "square"}},
        }
        response = await api.client.post("/api/v1/generations", json=body, headers=auth(key))
        assert response.status_code == 202, response.text
        done = await api.wait(key, response.json()["id"])
        assert done["status"] == "completed" and done["provider"] == "fal", done
        [queued] = fal.submits
        assert queued.endpoint == "fal-ai/flux/dev"
        assert queued.input == {"guidance_scale": 3.5, "image_size": "square", "prompt": "x"}


async def test_the_catalog_names_every_missing_key(tmp_path: Path, fal: FakeFal) -> None:
    async with open_api(providers_settings(tmp_path / "data", fal=fal)) as api:
        key = await live_key(api)
        listed = (await api.client.get("/api/v1/models?type=image", headers=auth(key))).json()
        flux = next(model for model in listed["data"] if model["id"] == "flux-schnell")
        assert flux["available"] and flux["credits_per_generation"] == 5
    async with open_api(providers_settings(tmp_path / "bare")) as api:
        key = await live_key(api)
        flux = (await api.client.get("/api/v1/models/flux-schnell", headers=auth(key))).json()
        assert not flux["available"]
        assert flux["unavailable_reason"] == (
            "no Replicate or fal API key on this server: set "
            "MEDIASTUDIO_PROVIDERS__REPLICATE__API_KEY or MEDIASTUDIO_PROVIDERS__FAL__API_KEY"
        )
        refused = await api.client.post("/api/v1/generate/image", json=FLUX, headers=auth(key))
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "model_unavailable"


async def test_cancel_reaches_fal_and_refunds(tmp_path: Path, fal: FakeFal) -> None:
    fal.plans.append(Plan(stall=True))
    async with open_api(providers_settings(tmp_path / "data", fal=fal)) as api:
        key = await live_key(api, credits=100)
        job = await create(api, key, "/api/v1/generate/image", FLUX)
        await api.wait(key, job["id"], until=lambda body: body["progress"] >= 10)
        [queued] = fal.submits
        cancelled = await api.client.post(
            f"/api/v1/generations/{job['id']}/cancel", headers=auth(key)
        )
        assert cancelled.json()["status"] == "cancelled"
        await _until(lambda: fal.cancelled == [queued.id])
        assert await balance(api, key) == (100, 0)


async def test_a_restart_mid_job_resumes_the_same_fal_request(tmp_path: Path, fal: FakeFal) -> None:
    fal.plans.append(Plan(stall=True))
    settings = providers_settings(tmp_path / "data", fal=fal)
    async with open_api(settings) as api:
        key = await live_key(api, credits=100)
        job = await create(api, key, "/api/v1/generate/image", FLUX)
        running = await api.wait(key, job["id"], until=lambda body: body["progress"] >= 10)
        assert running["provider"] == "fal"
    [queued] = fal.submits
    status, checkpoint, provider = checkpoint_of(settings.data_dir, job["id"])
    assert status == "queued" and provider == "fal" and queued.id in checkpoint
    assert fal.cancelled == []  # a shutdown leaves the request to the next start
    polls_before = queued.polls

    fal.release()
    async with open_api(settings) as api:
        done = await api.wait(key, job["id"])
        assert done["status"] == "completed", done
        assert len(fal.submits) == 1 and queued.polls > polls_before
        [attempt] = done["attempts"]
        assert attempt["job_id"] == queued.id and attempt["outcome"] == "succeeded"
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [5], "capture": [-5]}
