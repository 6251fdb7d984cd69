"""A registered local video model over HTTP with a live key, against the real app: the catalog
lists it as a video model, /generate/video makes an MP4 whose frames, size and rate (decoded
with PyAV) are the request's, and image to video takes an uploaded first frame."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from mediastudio.engines.local import registrations
from tests.conftest import Api, auth, make_settings, open_api
from tests.engines.tiny_diffusion import build_tiny_video_pipeline, require_local_extra

MODEL = "local/tiny-ltx"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_local_extra()
    return build_tiny_video_pipeline(tmp_path_factory.mktemp("weights") / "tiny-ltx")


@pytest.fixture
async def api(tiny: Path, tmp_path: Path) -> AsyncIterator[Api]:
    settings = make_settings(tmp_path / "data")
    registrations.register(settings.data_dir, tiny)
    async with open_api(settings) as opened:
        yield opened


async def create(api: Api, key: str, **fields: Any) -> dict[str, Any]:
    body = {"model": MODEL, "prompt": "waves on a beach", "width": 64, "height": 32, **fields}
    created = await api.client.post("/api/v1/generate/video", json=body, headers=auth(key))
    assert created.status_code == 202, created.text
    return dict(created.json())


def decoded(content: bytes) -> tuple[int, tuple[int, int], Fraction | None]:
    with av.open(io.BytesIO(content)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return len(frames), (frames[0].width, frames[0].height), stream.average_rate


async def test_generate_video_with_a_live_key_makes_the_mp4_asked_for(api: Api) -> None:
    key = await api.key(await api.account(credits=20))
    listed = await api.client.get(f"/api/v1/models/{MODEL}", headers=auth(key))
    assert listed.status_code == 200 and listed.json()["type"] == "video", listed.text
    assert listed.json()["available"] is True
    job = await create(api, key, num_frames=9, fps=12, steps=2, seed=3)
    done = await api.wait(key, job["id"], timeout=120)
    assert done["status"] == "completed", done
    assert done["model"] == MODEL and done["credits_charged"] == 5
    [output] = done["outputs"]
    assert output["content_type"] == "video/mp4" and output["seed"] == 3
    response = await api.client.get(output["url"])
    assert response.status_code == 200
    assert decoded(response.content) == (9, (64, 32), 12)
    assert output["duration_s"] == pytest.approx(9 / 12, abs=1e-3)


async def test_image_to_video_over_http_from_a_data_uri(api: Api) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 48), (20, 160, 90)).save(buffer, format="PNG")
    image = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    key = await api.key(await api.account(credits=20))
    job = await create(api, key, first_frame_image=image, num_frames=5, fps=8, steps=1, seed=1)
    done = await api.wait(key, job["id"], timeout=120)
    assert done["status"] == "completed", done
    response = await api.client.get(done["outputs"][0]["url"])
    assert decoded(response.content) == (5, (64, 32), 8)


async def test_a_cancel_stops_the_video_between_steps_and_refunds(api: Api) -> None:
    key = await api.key(await api.account(credits=20))
    job = await create(api, key, num_frames=9, steps=150)
    await api.wait(key, job["id"], until=lambda body: body["progress"] > 0, timeout=120)
    cancelled = await api.client.post(f"/api/v1/generations/{job['id']}/cancel", headers=auth(key))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    final = await api.wait(key, job["id"])
    assert final["status"] == "cancelled" and final["outputs"] == []
    account = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    assert account["credit_balance"] == 20
