"""A commercial without product images, end to end through the API: the chat model (the fake
OpenAI) writes the script and one visual description per shot, the routed image model
(FLUX schnell on the fake Replicate) draws each shot's still, and the built-in image-to-video
moves it as it moves a product image; speech and music run on the fake engines (fast). The MP4 is
decoded: the platform's shape, the length asked, a sound track, and the fake's picture (its flat
blue) on screen. The image steps are priced up front (one job per shot), captured once, and a
failed image step fails the job, refunded whole. Seed 001's route takes the request without
``productImages``; a server without an image model refuses it at create, saying why."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import numpy as np

from mediastudio.engines.builtin.compositions import CompositionsEngine
from mediastudio.engines.builtin.compositions.chat_script import ScriptWriter
from mediastudio.engines.builtin.compositions.commercial import CREDITS, Commercial, StepModels
from mediastudio.engines.builtin.video_tools import engine as video_tools
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings
from tests.conftest import Api, auth, make_settings, open_api
from tests.engines.test_commercial import product_image
from tests.providers.conftest import replicate_settings
from tests.providers.fake_openai import FakeOpenAI
from tests.providers.fake_replicate import FakeReplicate, Plan
from tests.providers.test_commercial_chat import CHAT, CHAT_PRICE, SENTENCES, answer
from tests.providers.test_replicate_jobs import _until, balance, ledger_kinds, live_key

COMMERCIAL = "/api/v1/generate/commercial"
SEED_COMMERCIAL = "/api/generate/commercial"
FLUX = "black-forest-labs/flux-schnell"  # the Replicate model flux-schnell runs on
FAKE_BLUE = (40, 120, 200)  # the fake Replicate's picture (tests/providers/fake_replicate.py)
SCENES = [
    "A pair of red running shoes on a wet track at dawn.",
    "Close-up of the shoe's springy sole mid-stride.",
    "A runner crossing a finish line, arms raised.",
]
BODY: dict[str, Any] = {
    "product": "Acme Rocket Shoes",
    "platform": "instagram",
    "duration": 15,
    "tone": "playful",
    "target_audience": "weekend runners",
}
STEPS = StepModels(speech="fake/speech", music="fake/music", video="builtin/image-to-video")


def register(registry: EngineRegistry, settings: Settings) -> None:
    """The commercial on fake speech and music and the built-in image-to-video, its script
    written by the configured chat model (the fake OpenAI), if any."""
    registry.add(video_tools.engine(settings, registry))
    writer = ScriptWriter.configured(settings)
    commercial = Commercial(STEPS, fps=12, short_side=160, writer=writer)
    registry.add(CompositionsEngine(registry, [commercial]))


def settings_for(data_dir: Path, replicate: FakeReplicate, openai: FakeOpenAI) -> Settings:
    """Replicate and OpenAI on the fakes; FLUX schnell is the operator's default image model."""
    base = replicate_settings(data_dir, replicate)
    providers = {
        **base.providers.model_dump(),
        "openai": {"api_key": openai.key, "base_url": openai.api_url},
    }
    return make_settings(
        data_dir,
        providers=providers,
        net_allow_hosts=f"{base.net_allow_hosts},127.0.0.1:{urlsplit(openai.base_url).port}",
        engine_modules=["tests.fakes", __name__],
        default_models={"image": "flux-schnell"},
    )


def written(scenes: list[str]) -> str:
    return json.dumps({"sentences": SENTENCES, "scenes": scenes})


async def image_price(api: Api, key: str) -> int:
    found = (await api.client.get("/api/v1/models/flux-schnell", headers=auth(key))).json()
    price: int = found["credits_per_generation"]
    return price


async def create(api: Api, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.post(COMMERCIAL, json=body, headers=auth(key))
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created


def decode(video: bytes) -> tuple[tuple[int, int], float, bool, np.ndarray]:
    """Frame size, length, whether it has sound, and the mean colour of the frames' top half
    (clear of the captions)."""
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        seconds = float(container.duration or 0) / av.time_base
        has_sound = bool(container.streams.audio)
        tops = [
            frame.to_ndarray(format="rgb24")[: size[1] // 2].reshape(-1, 3).mean(axis=0)
            for frame in container.decode(stream)
        ]
    return size, seconds, has_sound, np.mean(tops, axis=0)


async def test_each_scene_is_drawn_by_the_image_model_from_the_chat_models_description(
    tmp_path: Path, fake: FakeReplicate, openai_fake: FakeOpenAI
) -> None:
    openai_fake.script(CHAT, answer(written(SCENES)))
    async with open_api(settings_for(tmp_path / "data", fake, openai_fake)) as api:
        key = await live_key(api, credits=1000)
        listed = await api.client.get("/api/v1/models/builtin/commercial", headers=auth(key))
        [step] = listed.json()["steps"]
        assert (step["type"], step["available"]) == ("image", True)
        created = await create(api, key, BODY)
        assert created["input"]["image_model"]  # the routed default, written in at create
        price = CREDITS + CHAT_PRICE + 3 * await image_price(api, key)
        assert created["credits_reserved"] == price
        done = await api.wait(key, created["id"], timeout=120)
        assert done["status"] == "completed", done
        assert done["credits_charged"] == price
        assert await ledger_kinds(api, key, done["id"]) == {"reserve": [price], "capture": [-price]}

        # One message asked for the script and the 3 scenes; one image request per scene, each
        # from its description, in the nearest aspect FLUX draws (4:5 asks for 3:4).
        [call] = openai_fake.calls(CHAT)
        assert "Scenes: exactly 3" in call.body["messages"][-1]["content"]
        drawn = [p for p in fake.creates if p.model == FLUX]
        assert len(drawn) == len(fake.creates) == 3
        for prediction, scene in zip(drawn, SCENES, strict=True):
            assert prediction.input["prompt"].startswith(scene)
            assert prediction.input["aspect_ratio"] == "3:4"

        [output] = done["outputs"]
        assert output["visuals"] == "generated" and output["script"] == " ".join(SENTENCES)
        scenes = output["scenes"]
        assert [s["visual_prompt"].split(".")[0] for s in scenes] == [s.rstrip(".") for s in SCENES]
        assert scenes[0]["start_s"] == 0 and scenes[-1]["end_s"] == 15
        video = (await api.client.get(done["output_url"])).content
    size, seconds, has_sound, top = decode(video)
    assert size == (160, 200) and abs(seconds - 15) <= 0.5 and has_sound
    # The stills on screen are the image model's (its flat blue), moved by image-to-video.
    assert np.abs(top - np.array(FAKE_BLUE)).max() < 15, top


async def test_a_failed_image_step_fails_the_job_and_refunds_it_all(
    tmp_path: Path, fake: FakeReplicate, openai_fake: FakeOpenAI
) -> None:
    openai_fake.script(CHAT, answer(written(SCENES)))
    fake.plans.extend([Plan(), Plan(statuses=("starting", "failed"), error="NSFW content")])
    async with open_api(settings_for(tmp_path / "data", fake, openai_fake)) as api:
        key = await live_key(api, credits=1000)
        created = await create(api, key, BODY)
        price = created["credits_reserved"]
        assert price == CREDITS + CHAT_PRICE + 3 * await image_price(api, key)
        done = await api.wait(key, created["id"], timeout=60)
        assert done["status"] == "failed" and done["outputs"] == [], done
        assert "still-2" in done["error"]["message"], done["error"]
        assert await ledger_kinds(api, key, done["id"]) == {"reserve": [price], "refund": [-price]}
        assert await balance(api, key) == (1000, 0)
        assert len(fake.creates) == 2  # no shot after the failed one


async def test_a_cancel_stops_the_image_step_in_flight(
    tmp_path: Path, fake: FakeReplicate, openai_fake: FakeOpenAI
) -> None:
    openai_fake.script(CHAT, answer(written(SCENES)))
    fake.plans.extend([Plan(), Plan(stall=True)])
    async with open_api(settings_for(tmp_path / "data", fake, openai_fake)) as api:
        key = await live_key(api, credits=1000)
        created = await create(api, key, BODY)
        await _until(lambda: len(fake.creates) == 2, timeout=30)
        stalled = fake.creates[1]
        # The first still is drawn: its share of the bar (5/3 of 18.5 parts), no more.
        running = await api.wait(key, created["id"], until=lambda found: found["progress"] >= 8)
        assert running["status"] == "processing" and running["progress"] < 20, running
        cancelled = await api.client.post(
            f"/api/v1/generations/{created['id']}/cancel", headers=auth(key)
        )
        assert cancelled.json()["status"] == "cancelled"
        await _until(lambda: fake.cancelled == [stalled.id], timeout=15)
        done = await api.wait(key, created["id"])
        assert done["status"] == "cancelled" and done["outputs"] == []
        assert len(fake.creates) == 2  # no shot after the cancelled one
        assert await balance(api, key) == (1000, 0)


async def test_a_chat_reply_with_too_few_scenes_fails_and_refunds(
    tmp_path: Path, fake: FakeReplicate, openai_fake: FakeOpenAI
) -> None:
    openai_fake.script(CHAT, answer(written(SCENES[:2])))
    async with open_api(settings_for(tmp_path / "data", fake, openai_fake)) as api:
        key = await live_key(api, credits=1000)
        created = await create(api, key, BODY)
        done = await api.wait(key, created["id"], timeout=60)
        assert done["status"] == "failed", done
        assert "2 scenes, not 3" in done["error"]["message"]
        assert await balance(api, key) == (1000, 0) and fake.creates == []


async def test_seed_001s_route_takes_a_commercial_without_product_images(
    tmp_path: Path, fake: FakeReplicate, openai_fake: FakeOpenAI
) -> None:
    openai_fake.script(CHAT, answer(written(SCENES)))
    async with open_api(settings_for(tmp_path / "data", fake, openai_fake)) as api:
        key = await live_key(api, credits=1000)
        body = {
            "product": "Acme Rocket Shoes",
            "platform": "tiktok",
            "duration": 15,
            "tone": "energetic",
        }
        answered = await api.client.post(SEED_COMMERCIAL, json=body, headers=auth(key))
        assert answered.status_code == 200, answered.text
        done = await api.wait(key, answered.json()["data"]["jobId"], timeout=120)
        assert done["status"] == "completed", done
        assert done["input"]["image_model"] and "product_images" not in done["input"]
        assert [p.input["aspect_ratio"] for p in fake.creates] == ["9:16"] * 3
        video = (await api.client.get(done["output_url"])).content
    size, seconds, has_sound, _ = decode(video)
    assert size == (160, 284) and abs(seconds - 15) <= 0.5 and has_sound


async def test_a_script_of_the_request_gets_template_descriptions_and_no_chat(
    tmp_path: Path, fake: FakeReplicate, openai_fake: FakeOpenAI
) -> None:
    async with open_api(settings_for(tmp_path / "data", fake, openai_fake)) as api:
        key = await live_key(api, credits=1000)
        body = {**BODY, "script": "Acme is here. Run further with Acme.", "seed": 7}
        created = await create(api, key, body)
        assert created["credits_reserved"] == CREDITS + 3 * await image_price(api, key)
        done = await api.wait(key, created["id"], timeout=120)
        assert done["status"] == "completed", done
        assert openai_fake.calls(CHAT) == []
        prompts = [p.input["prompt"] for p in fake.creates]
        assert len(prompts) == 3 and all("Acme Rocket Shoes" in p for p in prompts)
        assert len(set(prompts)) == 3  # a different framing per shot
        assert [p.input.get("seed") for p in fake.creates] == [7, 8, 9]
        assert [s["visual_prompt"] for s in done["outputs"][0]["scenes"]] == prompts


async def test_without_an_image_model_only_product_images_are_taken(tmp_path: Path) -> None:
    """The model stays available (product images need no image model); a request without
    them is refused at create (503), naming the missing step, before any credit moves."""
    settings = make_settings(
        tmp_path / "data", engine_modules=["tests.providers.commercial_no_images"]
    )
    async with open_api(settings) as api:
        key = await live_key(api, credits=1000)
        body = {**BODY, "platform": "tiktok"}
        refused = await api.client.post(COMMERCIAL, json=body, headers=auth(key))
        assert refused.status_code == 503, refused.text
        found = refused.json()["error"]
        assert found["code"] == "model_unavailable" and "image model" in found["message"]
        assert await balance(api, key) == (1000, 0)
        # Listed available (for product images), its image step not, saying why.
        listed = await api.client.get("/api/v1/models?type=commercial", headers=auth(key))
        [entry] = listed.json()["data"]
        assert entry["available"] is True
        assert entry["steps"] == [
            {
                "type": "image",
                "field": "image_model",
                "when": "product_images is omitted",
                "available": False,
                "unavailable_reason": "no image model can run here",
            }
        ]
        sandbox_key = await api.key(await api.account("s@example.com"), sandbox=True)
        for_sandbox = await api.client.get(
            "/api/v1/models/builtin/commercial", headers=auth(sandbox_key)
        )
        assert for_sandbox.json()["steps"][0]["available"] is True
        # A sandbox key gets the placeholder of the live shape and fields, free.
        placeholder = await create(api, sandbox_key, body)
        assert placeholder["credits_reserved"] == 0
        done = await api.wait(sandbox_key, placeholder["id"], timeout=60)
        assert done["status"] == "completed" and done["sandbox"], done
        [output] = done["outputs"]
        assert output["visuals"] == "generated" and (output["width"], output["height"]) == (
            160,
            284,
        )
        assert len(output["scenes"]) == 3 and all("visual_prompt" in s for s in output["scenes"])
        with_images = {**body, "product_images": [product_image()]}
        accepted = await api.client.post(COMMERCIAL, json=with_images, headers=auth(key))
        assert accepted.status_code == 202, accepted.text
