"""The image tools over HTTP with a live key: each route creates a job of its type that the
built-in engine runs; bad images fail with invalid_input and a full refund."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.conftest import Api, auth, make_settings, open_api
from tests.engines.image_scenes import bomb_png, bytes_uri, data_uri, iou, large_png, product_shot


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with open_api(make_settings(tmp_path / "data", disabled_engines=[])) as opened:
        yield opened


async def run_tool(api: Api, path: str, body: dict[str, Any], credits: int = 20) -> dict[str, Any]:
    account = await api.account(credits=credits)
    key = await api.key(account)
    created = await api.client.post(f"/api/v1/images/{path}", json=body, headers=auth(key))
    assert created.status_code == 202, created.text
    done = await api.wait(key, created.json()["id"], timeout=60)
    account_view = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    return {"job": done, "balance": account_view["credit_balance"], "created": created.json()}


async def decode(api: Api, url: str) -> Image.Image:
    response = await api.client.get(url)
    assert response.status_code == 200
    return Image.open(io.BytesIO(response.content))


async def test_remove_background_route(api: Api) -> None:
    shot, truth = product_shot(240, 180)
    result = await run_tool(api, "remove-background", {"image_url": data_uri(shot)})
    job = result["job"]
    assert job["status"] == "completed", job
    assert (job["type"], job["model"]) == ("background-removal", "builtin/remove-background")
    assert job["credits_charged"] == 2 and result["balance"] == 18
    image = await decode(api, job["output_url"])
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (240, 180)
    assert iou(np.asarray(image.getchannel("A")) >= 128, truth) >= 0.9


async def test_upscale_route(api: Api) -> None:
    shot, _ = product_shot(100, 75)
    body = {"image_url": data_uri(shot), "scale": 4, "output_format": "webp"}
    job = (await run_tool(api, "upscale", body))["job"]
    assert job["status"] == "completed" and job["credits_charged"] == 3
    assert job["outputs"][0]["scale"] == 4
    image = await decode(api, job["output_url"])
    assert image.format == "WEBP" and image.size == (400, 300)


async def test_transform_route(api: Api) -> None:
    shot, _ = product_shot(120, 90)
    body = {"image_url": data_uri(shot), "transformation": "grayscale", "strength": 1}
    job = (await run_tool(api, "transform", body))["job"]
    assert job["status"] == "completed" and job["credits_charged"] == 1
    pixels = np.asarray((await decode(api, job["output_url"])).convert("RGB"))
    assert (pixels[..., 0] == pixels[..., 2]).all() and pixels.std() > 10


@pytest.mark.parametrize("payload", [bomb_png(), b"GIF89a broken"], ids=["bomb", "corrupt"])
async def test_bad_images_fail_with_invalid_input_and_a_refund(api: Api, payload: bytes) -> None:
    body = {"image_url": bytes_uri(payload), "transformation": "sepia"}
    result = await run_tool(api, "transform", body, credits=5)
    job = result["job"]
    assert job["status"] == "failed" and job["error"]["code"] == "invalid_input"
    assert (job["credits_charged"], job["credits_refunded"]) == (0, 1)
    assert result["balance"] == 5


async def test_bad_parameters_are_rejected_before_a_job_exists(api: Api) -> None:
    account = await api.account(credits=5)
    key = await api.key(account)
    body = {"image_url": "data:image/png;base64,AAAA", "transformation": "posterize"}
    response = await api.client.post("/api/v1/images/transform", json=body, headers=auth(key))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    body = {"image_url": "data:image/png;base64,AAAA", "scale": 3}
    response = await api.client.post("/api/v1/images/upscale", json=body, headers=auth(key))
    assert response.status_code == 400


async def test_an_uploaded_photo_over_the_memory_budget_fails_clearly_and_is_refunded(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path / "budget", disabled_engines=[], image_memory_bytes=256 * 1024 * 1024
    )
    async with open_api(settings) as api:
        key = await api.key(await api.account(credits=5))
        photo = large_png(4000, 3000)  # 12 Mpx: fine under the default budget, not under 256 MiB
        uploaded = await api.client.post(
            "/api/v1/files", files={"file": ("big.png", photo, "image/png")}, headers=auth(key)
        )
        assert uploaded.status_code == 201, uploaded.text
        body = {"image_url": uploaded.json()["id"], "transformation": "enhance"}
        created = await api.client.post("/api/v1/images/transform", json=body, headers=auth(key))
        job = await api.wait(key, created.json()["id"], timeout=60)
    assert job["status"] == "failed" and job["error"]["code"] == "invalid_input"
    assert "4000x3000" in job["error"]["message"]
    assert "256 MiB" in job["error"]["message"]
    assert "MEDIASTUDIO_IMAGE_MEMORY_BYTES" in job["error"]["message"]
    assert (job["credits_charged"], job["credits_refunded"]) == (0, 1)
