"""A registered local model over HTTP with a live key, against the real app: the catalog shows it
available, /generate/image makes a PNG of its size, a cancel stops it between steps, an
out-of-memory fails the job with its own code and a refund while the worker carries on."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mediastudio.engines.local import diffusion, registrations
from tests.conftest import Api, auth, make_settings, open_api
from tests.engines.tiny_diffusion import NATIVE_SIDE, build_tiny_pipeline, require_local_extra

MODEL = "local/tiny-sd"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_local_extra()
    return build_tiny_pipeline(tmp_path_factory.mktemp("weights") / "tiny-sd")


@pytest.fixture
async def api(tiny: Path, tmp_path: Path) -> AsyncIterator[Api]:
    settings = make_settings(tmp_path / "data")
    registrations.register(settings.data_dir, tiny)
    async with open_api(settings) as opened:
        yield opened


async def live_key(api: Api, credits: int = 10) -> str:
    return await api.key(await api.account(credits=credits))


async def balance(api: Api, key: str) -> int:
    body = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    return int(body["credit_balance"])


async def create(api: Api, key: str, **fields: Any) -> dict[str, Any]:
    body = {"model": MODEL, "prompt": "a lighthouse at dusk", "output_format": "png", **fields}
    created = await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))
    assert created.status_code == 202, created.text
    return dict(created.json())


async def test_the_catalog_shows_the_local_model_available(api: Api) -> None:
    key = await live_key(api)
    response = await api.client.get(f"/api/v1/models/{MODEL}", headers=auth(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "image" and body["available"] is True
    assert {"steps", "guidance_scale", "scheduler", "image_url"} <= set(
        body["input_schema"]["properties"]
    )


async def test_generate_image_with_a_live_key_makes_pngs_of_the_model_size(api: Api) -> None:
    key = await live_key(api)
    job = await create(api, key, steps=2, num_outputs=2, seed=7)
    done = await api.wait(key, job["id"], timeout=120)
    assert done["status"] == "completed", done
    assert done["model"] == MODEL and done["credits_charged"] == 2
    assert [output["seed"] for output in done["outputs"]] == [7, 8]
    for output in done["outputs"]:
        response = await api.client.get(output["url"])
        assert response.status_code == 200
        image = Image.open(io.BytesIO(response.content))
        assert image.format == "PNG" and image.size == (NATIVE_SIDE, NATIVE_SIDE)
    assert await balance(api, key) == 8


async def test_a_cancel_stops_the_job_between_steps_and_refunds(api: Api) -> None:
    key = await live_key(api)
    job = await create(api, key, steps=150)
    await api.wait(key, job["id"], until=lambda body: body["progress"] > 0, timeout=120)
    cancelled = await api.client.post(f"/api/v1/generations/{job['id']}/cancel", headers=auth(key))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    final = await api.wait(key, job["id"])
    assert final["status"] == "cancelled" and final["outputs"] == []
    assert await balance(api, key) == 10


@pytest.mark.embedded_only(
    reason="patches the engine's generate in the test process; the worker process runs the job"
)
async def test_out_of_memory_fails_with_its_code_refunds_and_the_worker_goes_on(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    def exhausted(pipeline: Any, request: Any, on_step: Any) -> Any:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    key = await live_key(api)
    with monkeypatch.context() as patched:
        patched.setattr(diffusion, "generate", _through_oom_guard(exhausted))
        failed = await api.wait(key, (await create(api, key, steps=1))["id"], timeout=120)
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "out_of_memory"
    assert "ran out of memory" in failed["error"]["message"]
    assert (failed["credits_charged"], failed["credits_refunded"]) == (0, 1)
    again = await api.wait(key, (await create(api, key, steps=1))["id"], timeout=120)
    assert again["status"] == "completed"
    assert await balance(api, key) == 9


def _through_oom_guard(inner: Any) -> Any:
    """``inner`` run inside the engine's real out-of-memory guard, as generate runs the
    pipeline."""

    def guarded(*args: Any) -> Any:
        with diffusion._out_of_memory_fails_the_job():
            return inner(*args)

    return guarded


async def test_image_to_image_over_http_keeps_the_source_shape(api: Api) -> None:
    import base64

    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (30, 90, 200)).save(buffer, format="PNG")
    source = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    key = await live_key(api)
    job = await create(api, key, image_url=source, strength=0.6, steps=2, seed=1)
    done = await api.wait(key, job["id"], timeout=120)
    assert done["status"] == "completed", done
    [output] = done["outputs"]
    image = Image.open(io.BytesIO((await api.client.get(output["url"])).content))
    assert image.size == (64, 40) == (output["width"], output["height"])  # 64 x 42.7, by 8
