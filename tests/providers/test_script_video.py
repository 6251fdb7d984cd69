"""Script to video (``POST /api/v1/videos/script``) end to end through the ASGI app: with the
built-in engines alone (espeak says each scene, built-in image-to-video moves a painted still),
and against the fakes (the fake OpenAI says each scene, Hailuo films it on Replicate, failing
over to fal). The MP4 is decoded: its shape is the aspect asked, its length the voice-overs'
(loud where each scene is said, a breath of silence after), one hard cut between scenes. The
price is the steps' and the composition's, reserved once and captured once, refunded when a
step fails; a cancel reaches Replicate's prediction; a sandbox key gets the live shape calling
nobody; a server without a video model lists the model unavailable, saying why."""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import numpy as np
import pytest

from mediastudio.engines.builtin import compositions, espeak
from mediastudio.engines.builtin.compositions.script_video import SCENE_TAIL_S
from mediastudio.engines.media.video import AUDIO_RATE
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings
from tests.conftest import Api, auth, make_settings, open_api
from tests.providers.conftest import providers_settings
from tests.providers.fake_fal import FakeFal
from tests.providers.fake_fal import Plan as FalPlan
from tests.providers.fake_openai import CHARACTERS_PER_SECOND, FakeOpenAI, error
from tests.providers.fake_replicate import FakeReplicate, Plan
from tests.providers.test_generated_captions import download
from tests.providers.test_replicate_jobs import _until, balance, create, ledger_kinds, live_key

SCRIPT = "/api/v1/videos/script"
SPEECH = "/v1/audio/speech"
OWN_PRICE = 10
CUT_LEVEL = 30.0  # mean absolute change of a pixel value between frames at a cut
THREE = "Morning light over the harbour.\n\nThe boats head out to sea.\n\nGulls follow them home."
TWO_SCENES = [
    {"text": "A quiet street at dawn.", "visual_prompt": "empty street, sunrise"},
    {"text": "The city wakes up slowly."},
]


def said_for(text: str) -> float:
    """How long the fake OpenAI's voice takes to say ``text``."""
    return max(0.5, len(text) / CHARACTERS_PER_SECOND)


def builtin_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", disabled_engines=[], engine_modules=[])


def hosted_settings(
    data_dir: Path, fake: FakeReplicate, fal: FakeFal, openai: FakeOpenAI
) -> Settings:
    """fal, Replicate and OpenAI on the fakes, and the built-in engines (the composition)."""
    base = providers_settings(data_dir, replicate=fake, fal=fal)
    providers = {
        **base.providers.model_dump(),
        "openai": {"api_key": openai.key, "base_url": openai.api_url},
    }
    hosts = f"{base.net_allow_hosts},127.0.0.1:{urlsplit(openai.base_url).port}"
    return make_settings(
        data_dir,
        providers=providers,
        net_allow_hosts=hosts,
        disabled_engines=[],
        engine_modules=[],
    )


class Decoded:
    def __init__(self, data: bytes) -> None:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            self.fps = float(stream.average_rate or 0)
            decoded = container.decode(stream)
            frames = [f.to_ndarray(format="rgb24").astype(np.int16) for f in decoded]
        self.height, self.width = frames[0].shape[:2]
        self.seconds = len(frames) / self.fps
        self.changes = [float(np.abs(b - a).mean()) for a, b in itertools.pairwise(frames)]
        with av.open(io.BytesIO(data)) as container:
            [audio] = container.streams.audio
            assert audio.codec_context.name == "aac"
            self.sound = np.concatenate(
                [f.to_ndarray().mean(axis=0) for f in container.decode(audio)]
            )

    def cuts(self) -> list[float]:
        """When the picture jumps: the times of the frames after each cut."""
        return [(i + 1) / self.fps for i, change in enumerate(self.changes) if change > CUT_LEVEL]

    def loud(self, start: float, end: float) -> float:
        part = self.sound[round(start * AUDIO_RATE) : round(end * AUDIO_RATE)]
        return float(np.sqrt(np.mean(part**2)))


async def model_price(api: Api, key: str, model_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (
        await api.client.get(f"/api/v1/models/{model_id}", headers=auth(key))
    ).json()
    return found


def assert_follows_the_voice(video: Decoded, scenes: list[dict[str, Any]]) -> None:
    """Each scene's voice-over is heard in its span, a breath of silence after it, and the
    video ends with the last breath."""
    edge = 0.06
    for scene in scenes:
        spoken_end = scene["end_s"] - SCENE_TAIL_S
        assert video.loud(scene["start_s"] + edge, spoken_end - edge) > 0.01, scene
        assert video.loud(spoken_end + edge, scene["end_s"] - edge) < 0.005, scene
    assert video.seconds == pytest.approx(scenes[-1]["end_s"], abs=1.5 / video.fps)


async def test_builtin_engines_make_a_narrated_video_with_a_cut_per_scene(tmp_path: Path) -> None:
    """No provider: espeak says each paragraph, a painted still per scene is moved by the
    built-in image-to-video; captions off so that only the cuts change the picture a lot."""
    async with open_api(builtin_settings(tmp_path)) as api:
        key = await live_key(api, credits=1000)
        body = {"script": THREE, "aspect_ratio": "16:9", "resolution": "240p", "captions": False}
        job = await create(api, key, SCRIPT, body)
        assert (job["type"], job["model"]) == ("script-video", "builtin/script-video")
        assert job["input"]["speech_model"] == "builtin/espeak"
        assert job["input"]["video_model"] == "builtin/image-to-video"
        espeak = await model_price(api, key, "builtin/espeak")
        assert job["credits_reserved"] > OWN_PRICE + 3 * espeak["credits_per_generation"]
        done = await api.wait(key, job["id"], timeout=120)
        assert done["status"] == "completed", done
        price = job["credits_reserved"]
        assert done["credits_charged"] == price
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [price], "capture": [-price]}

        [output] = done["outputs"]
        assert output["visuals"] == "card" and output["aspect_ratio"] == "16:9"
        scenes = output["scenes"]
        assert [s["text"] for s in scenes] == [p for p in THREE.split("\n\n")]
        video = Decoded(await download(api, output["url"]))
        assert (video.width, video.height) == (output["width"], output["height"]) == (426, 240)
        assert_follows_the_voice(video, scenes)
        cuts = video.cuts()
        assert len(cuts) == 2, video.changes
        for cut, scene in zip(cuts, scenes[1:], strict=True):
            assert cut == pytest.approx(scene["start_s"], abs=1.5 / video.fps)


async def test_hosted_models_film_each_scene_with_a_failover_for_one_charge(
    tmp_path: Path, fake: FakeReplicate, fal: FakeFal, openai_fake: FakeOpenAI
) -> None:
    # Hailuo's routes: Replicate first, then fal.
    fake.script("create", 503, {"detail": "Service Unavailable"})
    fake.plans.append(Plan(kind="video"))
    fal.plans.append(FalPlan(kind="video"))
    async with open_api(hosted_settings(tmp_path / "data", fake, fal, openai_fake)) as api:
        key = await live_key(api, credits=10_000)
        body = {
            "scenes": TWO_SCENES,
            "aspect_ratio": "9:16",
            "resolution": "240p",
            "voice": "nova",
            "speech_model": "openai/gpt-4o-mini-tts",
            "video_model": "minimax/hailuo-2.3-fast",
            "style": "cinematic",
        }
        job = await create(api, key, SCRIPT, body)
        speech = await model_price(api, key, "openai/gpt-4o-mini-tts")
        hailuo = await model_price(api, key, "minimax/hailuo-2.3-fast")
        price = OWN_PRICE + 2 * (
            speech["credits_per_generation"] + hailuo["credits_per_generation"]
        )
        assert job["credits_reserved"] == price
        done = await api.wait(key, job["id"], timeout=120)
        assert done["status"] == "completed", done
        assert done["credits_charged"] == price
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [price], "capture": [-price]}

        said = openai_fake.calls(SPEECH)
        assert [call.body["input"] for call in said] == [s["text"] for s in TWO_SCENES]
        assert {call.body["voice"] for call in said} == {"nova"}
        # The first clip failed over from Replicate to fal, the second ran on Replicate; both
        # filmed from the prompt alone (text to video), with the style.
        [submit] = fal.submits
        assert submit.input["prompt"] == "empty street, sunrise. Style: cinematic"
        assert "image_url" not in submit.input
        [prediction] = fake.creates
        assert prediction.input["prompt"] == "The city wakes up slowly. Style: cinematic"
        assert "first_frame_image" not in prediction.input

        [output] = done["outputs"]
        assert output["visuals"] == "text-to-video"
        video = Decoded(await download(api, output["url"]))
        assert (video.width, video.height) == (240, 426)
        voiced = sum(said_for(s["text"]) for s in TWO_SCENES) + 2 * SCENE_TAIL_S
        assert video.seconds == pytest.approx(voiced, abs=0.15)
        assert_follows_the_voice(video, output["scenes"])
        # Captions timed within each scene's speech.
        for scene in output["scenes"]:
            inside = [
                c for c in output["captions"] if scene["start_s"] <= c["start_s"] < scene["end_s"]
            ]
            assert inside and inside[-1]["end_s"] <= scene["end_s"] - SCENE_TAIL_S + 0.01


async def test_an_image_model_draws_each_scene_for_an_image_to_video_model(
    tmp_path: Path, fake: FakeReplicate, fal: FakeFal, openai_fake: FakeOpenAI
) -> None:
    """The image path: FLUX on Replicate draws each scene's still in the video's aspect, the
    built-in image-to-video moves it; espeak says the scenes."""
    async with open_api(hosted_settings(tmp_path / "data", fake, fal, openai_fake)) as api:
        key = await live_key(api, credits=10_000)
        body = {
            "scenes": TWO_SCENES,
            "aspect_ratio": "1:1",
            "resolution": "240p",
            "speech_model": "builtin/espeak",
            "image_model": "flux-schnell",
            "video_model": "builtin/image-to-video",
        }
        job = await create(api, key, SCRIPT, body)
        done = await api.wait(key, job["id"], timeout=120)
        assert done["status"] == "completed", done
        price = job["credits_reserved"]
        assert done["credits_charged"] == price
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [price], "capture": [-price]}
        drawn = [(p.input["prompt"], p.input["aspect_ratio"]) for p in fake.creates]
        assert drawn == [("empty street, sunrise", "1:1"), ("The city wakes up slowly.", "1:1")]
        [output] = done["outputs"]
        assert output["visuals"] == "image-to-video"
        video = Decoded(await download(api, output["url"]))
        assert (video.width, video.height) == (240, 240)
        assert_follows_the_voice(video, output["scenes"])


async def test_a_failed_speech_step_refunds_the_whole_price(
    tmp_path: Path, fake: FakeReplicate, fal: FakeFal, openai_fake: FakeOpenAI
) -> None:
    openai_fake.script(SPEECH, error(500, "The server had an error.", "server_error"))
    async with open_api(hosted_settings(tmp_path / "data", fake, fal, openai_fake)) as api:
        key = await live_key(api, credits=10_000)
        body = {
            "scenes": TWO_SCENES,
            "resolution": "240p",
            "speech_model": "openai/gpt-4o-mini-tts",
            "video_model": "minimax/hailuo-2.3-fast",
        }
        job = await create(api, key, SCRIPT, body)
        done = await api.wait(key, job["id"], timeout=60)
        assert done["status"] == "failed" and done["outputs"] == [], done
        assert "speak-1" in done["error"]["message"]
        price = job["credits_reserved"]
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [price], "refund": [-price]}
        assert await balance(api, key) == (10_000, 0)
        assert fal.submits == [] and fake.creates == []


async def test_a_cancel_reaches_the_providers_prediction(
    tmp_path: Path, fake: FakeReplicate, fal: FakeFal, openai_fake: FakeOpenAI
) -> None:
    fake.plans.append(Plan(stall=True, kind="video"))
    async with open_api(hosted_settings(tmp_path / "data", fake, fal, openai_fake)) as api:
        key = await live_key(api, credits=10_000)
        body = {
            "scenes": TWO_SCENES,
            "resolution": "240p",
            "speech_model": "openai/gpt-4o-mini-tts",
            "video_model": "minimax/hailuo-2.3-fast",
        }
        job = await create(api, key, SCRIPT, body)
        await _until(lambda: len(fake.creates) == 1, timeout=30)
        [queued] = fake.creates
        # Both voice-overs are said (2 of the bar's 12 shares: a clip weighs 4, the render 2).
        running = await api.wait(key, job["id"], until=lambda found: found["progress"] >= 16)
        assert running["status"] == "processing" and running["progress"] < 50
        cancelled = await api.client.post(
            f"/api/v1/generations/{job['id']}/cancel", headers=auth(key)
        )
        assert cancelled.json()["status"] == "cancelled"
        await _until(lambda: fake.cancelled == [queued.id], timeout=15)
        done = await api.wait(key, job["id"])
        assert done["status"] == "cancelled" and done["outputs"] == []
        assert len(fake.creates) == 1 and fal.submits == []  # no scene after the cancelled one
        assert await balance(api, key) == (10_000, 0)


async def test_a_sandbox_key_gets_the_live_shape_calling_nobody(
    tmp_path: Path, fake: FakeReplicate, fal: FakeFal, openai_fake: FakeOpenAI
) -> None:
    async with open_api(hosted_settings(tmp_path / "data", fake, fal, openai_fake)) as api:
        key = await api.key(await api.account(credits=0), sandbox=True)
        body = {"scenes": TWO_SCENES, "aspect_ratio": "1:1", "resolution": "240p"}
        job = await create(api, key, SCRIPT, body)
        assert job["credits_reserved"] == 0
        done = await api.wait(key, job["id"], timeout=60)
        assert done["status"] == "completed" and done["sandbox"] is True, done
        [output] = done["outputs"]
        assert {"scenes", "captions", "aspect_ratio", "visuals"} <= set(output)
        video = Decoded(await download(api, output["url"]))
        assert (video.width, video.height) == (240, 240)
        assert video.seconds > 0 and len(video.sound) > 0
        assert fake.received == [] and fal.received == [] and openai_fake.received == []


def register(registry: EngineRegistry, settings: Settings) -> None:
    """A server with espeak and the compositions, and no video model (``engine_modules``)."""
    for module in (espeak, compositions):
        registry.add(module.engine(settings, registry))


async def test_without_a_video_model_it_is_listed_unavailable_and_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", engine_modules=[__name__])
    async with open_api(settings) as api:
        key = await live_key(api, credits=1000)
        listed = await api.client.get("/api/v1/models?type=script-video", headers=auth(key))
        [entry] = listed.json()["data"]
        assert entry["available"] is False
        assert "no video model can run here" in entry["unavailable_reason"]
        response = await api.client.post(SCRIPT, json={"script": "Hello."}, headers=auth(key))
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "model_unavailable"
        assert await balance(api, key) == (1000, 0)


@pytest.mark.parametrize(
    "body",
    [
        {},  # neither
        {"script": "Hi.", "scenes": [{"text": "Hi."}]},  # both
        {"script": "Hi.", "aspect_ratio": "4:5"},
        {"scenes": [{"text": "Hi."}] * 13},
    ],
)
async def test_what_it_cannot_take_is_a_400(tmp_path: Path, body: dict[str, Any]) -> None:
    async with open_api(builtin_settings(tmp_path)) as api:
        key = await live_key(api, credits=1000)
        response = await api.client.post(SCRIPT, json=body, headers=auth(key))
        assert response.status_code == 400, response.text
        assert await balance(api, key) == (1000, 0)
