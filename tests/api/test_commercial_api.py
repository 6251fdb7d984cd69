"""POST /api/v1/generate/commercial end to end under a live key: priced, queued, run, and the
output downloaded and decoded as an MP4 of the platform's shape.

The steps run on the fake engines (this module registers a commercial that uses them, through
``settings.engine_modules``), so the test stays fast whatever the real step engines cost."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np

from mediastudio.engines.builtin.compositions import CompositionsEngine
from mediastudio.engines.builtin.compositions.commercial import CREDITS, Commercial, StepModels
from mediastudio.engines.media.audio import read_audio
from mediastudio.engines.media.video import iter_frames, probe
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings
from tests.conftest import auth, make_settings, open_api
from tests.engines.test_commercial import product_image

FAKE_STEPS = StepModels(speech="fake/speech", music="fake/music", video="fake/video")


def register(registry: EngineRegistry, settings: Settings) -> None:
    registry.add(CompositionsEngine(registry, [Commercial(FAKE_STEPS, fps=12, short_side=160)]))


def settings_for(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, engine_modules=["tests.fakes", __name__])


async def test_a_commercial_is_created_charged_and_delivered_as_an_mp4(tmp_path: Path) -> None:
    async with open_api(settings_for(tmp_path)) as api:
        account = await api.account(credits=100)
        key = await api.key(account)
        body = {
            "product": "Acme Rocket Shoes",
            "platform": "instagram",
            "duration": 15,
            "tone": "playful",
            "product_images": [product_image(), product_image(180, 240)],
            "target_audience": "weekend runners",
            "metadata": {"campaign": "spring"},
        }
        response = await api.client.post(
            "/api/v1/generate/commercial", json=body, headers=auth(key)
        )
        assert response.status_code == 202, response.text
        created = response.json()
        assert created["type"] == "commercial" and created["model"] == "builtin/commercial"
        done = await api.wait(key, created["id"], timeout=60)
        assert done["status"] == "completed", done
        assert done["credits_charged"] == CREDITS and done["progress"] == 100
        assert done["metadata"] == {"campaign": "spring"}
        [output] = done["outputs"]
        assert (output["width"], output["height"]) == (160, 200)
        assert output["platform"] == "instagram" and output["aspect_ratio"] == "4:5"
        assert "weekend runners" in output["script"] and output["captions"]
        assert [scene["image"] for scene in output["scenes"]] == [0, 1, 0]
        video = (await api.client.get(done["output_url"])).content
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (160, 200)
        assert abs(float(container.duration or 0) / av.time_base - 15) <= 0.5
        assert container.streams.audio


async def test_bad_bodies_are_refused_before_any_credit_moves(tmp_path: Path) -> None:
    async with open_api(settings_for(tmp_path)) as api:
        account = await api.account(credits=100)
        key = await api.key(account)
        base = {"product": "Acme", "platform": "tiktok", "duration": 15, "tone": "calm"}
        for body in (
            # image_model draws stills only for a commercial without product images
            {**base, "product_images": [product_image()], "image_model": "fake/image"},
            {**base, "product_images": []},
            {**base, "product_images": [product_image()], "platform": "myspace"},
            {**base, "product_images": [product_image()], "script": "word " * 60},
        ):
            response = await api.client.post(
                "/api/v1/generate/commercial", json=body, headers=auth(key)
            )
            assert response.status_code in (400, 422), response.text
        balance = (await api.client.get("/api/v1/account", headers=auth(key))).json()
        assert balance["credit_balance"] == 100


async def test_a_sandbox_key_gets_a_free_placeholder_of_the_platforms_shape(
    tmp_path: Path,
) -> None:
    async with open_api(settings_for(tmp_path)) as api:
        account = await api.account(credits=0)
        key = await api.key(account, sandbox=True)
        body = {
            "product": "Acme",
            "platform": "tiktok",
            "duration": 15,
            "tone": "calm",
            "product_images": [product_image()],
        }
        response = await api.client.post(
            "/api/v1/generate/commercial", json=body, headers=auth(key)
        )
        assert response.status_code == 202, response.text
        done = await api.wait(key, response.json()["id"], timeout=60)
        assert done["status"] == "completed" and done["sandbox"], done
        [output] = done["outputs"]
        assert output["width"] < output["height"]  # 9:16


class RealStepsEngine(CompositionsEngine):
    name = "test-compositions"


def register_real_steps(registry: EngineRegistry, settings: Settings) -> None:
    """A commercial on the built-in speech and image-to-video models (music: the fake until the
    built-in composer is installed), as ``test/commercial``."""
    music = "builtin/composer" if registry.get("builtin/composer") else "fake/music"
    steps = StepModels("builtin/espeak", music, "builtin/image-to-video")
    composition = Commercial(steps, short_side=160, model_id="test/commercial")
    registry.add(RealStepsEngine(registry, [composition]))


async def test_a_commercial_on_the_builtin_step_models_speaks_and_moves(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        disabled_engines=[],
        engine_modules=["tests.fakes", "tests.api.commercial_real_steps"],
    )
    async with open_api(settings) as api:
        account = await api.account(credits=100)
        key = await api.key(account)
        body = {
            "model": "test/commercial",
            "product": "Acme Rocket Shoes",
            "platform": "youtube",
            "duration": 15,
            "tone": "calm",
            "product_images": [product_image()],
            "voice": "en-us",
        }
        response = await api.client.post(
            "/api/v1/generate/commercial", json=body, headers=auth(key)
        )
        assert response.status_code == 202, response.text
        done = await api.wait(key, response.json()["id"], timeout=90)
        assert done["status"] == "completed", done
        video = (await api.client.get(done["output_url"])).content
    path = tmp_path / "commercial.mp4"
    path.write_bytes(video)
    info = probe(path)
    assert (info.width, info.height) == (284, 160) and info.has_audio
    assert abs(info.duration_s - 15) <= 0.5
    audio = read_audio(path, rate=16_000)
    spans = [(cue["start_s"], cue["end_s"]) for cue in done["outputs"][0]["captions"]]
    # The voice is in the mix: louder while a sentence is spoken than after the last one.
    speaking = np.concatenate([audio[int(s * 16_000) : int(e * 16_000)] for s, e in spans])
    tail = audio[int((spans[-1][1] + 0.5) * 16_000) : int(14.0 * 16_000)]
    assert rms(speaking) > 1.5 * rms(tail)
    # The picture moves: the first and a later frame of the first shot differ.
    frames = [frame for t, frame in iter_frames(path, end_s=3.0) if t in (0.0, 2.5)]
    assert len(frames) == 2 and np.abs(frames[0].astype(int) - frames[1]).mean() > 2


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
