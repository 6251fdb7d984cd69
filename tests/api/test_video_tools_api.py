"""The video tools through the API with a live key: routing, pricing, real decodable outputs."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from mediastudio.engines.media.video import AUDIO_RATE, VideoWriter
from tests.conftest import Api, auth, make_settings, open_api
from tests.fetch_servers import LoopbackServer, ok

SRT = "1\n00:00:00,000 --> 00:00:00,800\nHello\n"


def png_uri() -> str:
    buffer = io.BytesIO()
    pixels = (np.random.default_rng(3).random((90, 120, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def small_video(path: Path) -> bytes:
    tone = (0.3 * np.sin(np.arange(AUDIO_RATE) / AUDIO_RATE * 2 * np.pi * 330)).astype(np.float32)
    with VideoWriter(path, 160, 120, fps=8, audio=tone) as writer:
        for index in range(8):
            writer.write(np.full((120, 160, 3), 40 + 10 * index, np.uint8))
    return path.read_bytes()


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[Api, str]]:
    video = small_video(tmp_path / "in.mp4")
    with LoopbackServer({"/in.mp4": ok(video, "video/mp4")}) as server:
        settings = make_settings(
            tmp_path / "data",
            disabled_engines=[],
            engine_modules=[],  # no fake engines: the builtin ones are the defaults
            net_allow_hosts=f"127.0.0.1:{server.port}",
        )
        async with open_api(settings) as api:
            key = await api.key(await api.account(credits=100))
            api.video_url = server.url("/in.mp4")  # type: ignore[attr-defined]
            yield api, key


async def create(api: Api, key: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.post(path, json=body, headers=auth(key))
    assert response.status_code == 202, response.text
    done = await api.wait(key, response.json()["id"], timeout=60)
    assert done["status"] == "completed", done
    return done


async def video_of(api: Api, url: str) -> tuple[tuple[int, int], int, bool]:
    content = (await api.client.get(url)).content
    with av.open(io.BytesIO(content)) as container:
        stream = container.streams.video[0]
        frames = len(list(container.decode(stream)))
        return (stream.width, stream.height), frames, bool(container.streams.audio)


async def test_a_text_only_video_request_has_no_engine(live: tuple[Api, str]) -> None:
    api, key = live
    response = await api.client.post(
        "/api/v1/generate/video", json={"prompt": "waves at dusk"}, headers=auth(key)
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "model_unavailable"
    assert "builtin/image-to-video needs first_frame_image" in response.json()["error"]["message"]
    models = (await api.client.get("/api/v1/models?type=video", headers=auth(key))).json()
    assert "builtin/image-to-video" in [m["id"] for m in models["data"]]


async def test_image_to_video_is_the_default_for_a_video_from_an_image(
    live: tuple[Api, str],
) -> None:
    api, key = live
    body = {"first_frame_image": png_uri(), "duration": 2, "fps": 8, "resolution": "360p"}
    done = await create(api, key, "/api/v1/generate/video", body)
    assert done["model"] == "builtin/image-to-video" and done["credits_charged"] == 4
    size, frames, audio = await video_of(api, done["output_url"])
    assert size == (640, 360) and frames == 16 and audio
    assert done["outputs"][0]["motion"] == "zoom-in"


async def test_subtitles_from_a_fetched_video(live: tuple[Api, str]) -> None:
    api, key = live
    body = {"video_url": api.video_url, "subtitles": SRT, "position": "top"}  # type: ignore[attr-defined]
    done = await create(api, key, "/api/v1/videos/subtitles", body)
    assert done["type"] == "subtitles" and done["credits_charged"] == 5
    size, frames, audio = await video_of(api, done["output_url"])
    assert size == (160, 120) and frames == 8 and audio


async def test_social_variants_one_output_per_platform(live: tuple[Api, str]) -> None:
    api, key = live
    body = {"source_url": api.video_url, "platforms": ["youtube-shorts", "linkedin"]}  # type: ignore[attr-defined]
    done = await create(api, key, "/api/v1/videos/social-variants", body)
    assert done["credits_charged"] == 4
    outputs = done["outputs"]
    assert [o["platform"] for o in outputs] == ["youtube-shorts", "linkedin"]
    assert [(o["width"], o["height"]) for o in outputs] == [(720, 1280), (1080, 1080)]
    size, frames, audio = await video_of(api, outputs[1]["url"])
    assert size == (1080, 1080) and frames == 8 and audio


async def test_a_sandbox_key_gets_one_placeholder_per_platform_in_its_shape(
    live: tuple[Api, str],
) -> None:
    api, _ = live
    sandbox = await api.key(await api.account("sandbox@example.com"), sandbox=True)
    body = {"source_url": api.video_url, "platforms": ["tiktok", "twitter"]}  # type: ignore[attr-defined]
    done = await create(api, sandbox, "/api/v1/videos/social-variants", body)
    assert done["sandbox"] and done["credits_charged"] == 0
    outputs = done["outputs"]
    assert [(o["platform"], o["aspect_ratio"]) for o in outputs] == [
        ("tiktok", "9:16"),
        ("twitter", "16:9"),
    ]
    assert [(o["width"], o["height"]) for o in outputs] == [(720, 1280), (1280, 720)]
    size, frames, audio = await video_of(api, outputs[0]["url"])
    assert size == (720, 1280) and frames == 8 and audio  # the 1 s, 8 fps source's length


async def test_a_sandbox_job_fails_on_an_input_the_live_engine_cannot_read(
    live: tuple[Api, str],
) -> None:
    api, _ = live
    sandbox = await api.key(await api.account("sandbox@example.com"), sandbox=True)
    missing = api.video_url.replace("/in.mp4", "/missing.mp4")  # type: ignore[attr-defined]
    body = {"source_url": missing, "platforms": ["tiktok"]}
    response = await api.client.post(
        "/api/v1/videos/social-variants", json=body, headers=auth(sandbox)
    )
    done = await api.wait(sandbox, response.json()["id"], timeout=60)
    assert done["status"] == "failed" and done["error"]["code"] == "invalid_input", done


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/videos/subtitles", {"video_url": "https://x.io/v.mp4", "subtitles": "nonsense"}),
        ("/api/v1/videos/social-variants", {"source_url": "https://x.io/a.png", "platforms": []}),
        ("/api/v1/videos/social-variants", {"source_url": "https://x.io/a", "platforms": ["vine"]}),
    ],
)
async def test_bad_tool_requests_are_400(
    live: tuple[Api, str], path: str, body: dict[str, Any]
) -> None:
    api, key = live
    response = await api.client.post(path, json=body, headers=auth(key))
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
