"""The commercial's script written by a chat model (the fake OpenAI) when one is configured and
the request has none: the voice-over and the captions say the chat model's sentences, the
message is part of the one price (reserved once, captured once), and a chat failure fails the
job, refunded in full. The other steps run on the fake engines (fast); the MP4 is decoded."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import av

from mediastudio.engines.builtin.compositions import CompositionsEngine
from mediastudio.engines.builtin.compositions.chat_script import ScriptWriter
from mediastudio.engines.builtin.compositions.commercial import CREDITS, Commercial, StepModels
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings
from tests.conftest import Api, auth, open_api
from tests.engines.test_commercial import product_image
from tests.providers.conftest import openai_settings
from tests.providers.fake_openai import Answer, FakeOpenAI, chat_completion, error
from tests.providers.test_replicate_jobs import ledger_kinds, live_key

CHAT = "/v1/chat/completions"
COMMERCIAL = "/api/v1/generate/commercial"
CHAT_PRICE = 1  # openai/gpt-5.4-mini, the chat catalog's default
SENTENCES = [
    "Meet Acme Rocket Shoes.",
    "They bounce back with every single stride.",
    "Run further, land softer, smile wider.",
    "Lace up Acme Rocket Shoes today!",
]
BODY: dict[str, Any] = {
    "product": "Acme Rocket Shoes",
    "platform": "instagram",
    "duration": 15,
    "tone": "playful",
    "product_images": [product_image()],
    "target_audience": "weekend runners",
}
FAKE_STEPS = StepModels(speech="fake/speech", music="fake/music", video="fake/video")


def register(registry: EngineRegistry, settings: Settings) -> None:
    writer = ScriptWriter.configured(settings)
    commercial = Commercial(FAKE_STEPS, fps=12, short_side=160, writer=writer)
    registry.add(CompositionsEngine(registry, [commercial]))


def settings_for(tmp_path: Path, fake: FakeOpenAI) -> Settings:
    return openai_settings(tmp_path / "data", fake, engine_modules=["tests.fakes", __name__])


def answer(content: str) -> Answer:
    whole = chat_completion({"model": "gpt-5.4-mini", "messages": [{"content": "x"}]})
    whole["choices"][0]["message"]["content"] = content
    return Answer(200, whole)


async def run(api: Api, key: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    response = await api.client.post(COMMERCIAL, json=body, headers=auth(key))
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created, await api.wait(key, created["id"], timeout=60)


async def test_the_chat_model_writes_the_script_the_voice_and_captions_say(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    openai_fake.script(CHAT, answer(json.dumps({"sentences": SENTENCES})))
    async with open_api(settings_for(tmp_path, openai_fake)) as api:
        key = await live_key(api, credits=100)
        created, done = await run(api, key, BODY)
        price = CREDITS + CHAT_PRICE
        assert created["credits_reserved"] == price
        assert done["status"] == "completed", done
        assert done["credits_charged"] == price
        assert await ledger_kinds(api, key, done["id"]) == {"reserve": [price], "capture": [-price]}
        [call] = openai_fake.calls(CHAT)
        asked = call.body["messages"][-1]["content"]
        assert "Acme Rocket Shoes" in asked and "weekend runners" in asked and "15 s" in asked
        [output] = done["outputs"]
        assert output["script"] == " ".join(SENTENCES)
        captions = " ".join(cue["text"] for cue in output["captions"])
        assert captions.split() == " ".join(SENTENCES).split()
        starts = [cue["start_s"] for cue in output["captions"]]
        assert starts == sorted(starts) and output["captions"][-1]["end_s"] < 15
        video = (await api.client.get(done["output_url"])).content
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (160, 200)
        assert abs(float(container.duration or 0) / av.time_base - 15) <= 0.5
        assert container.streams.audio


async def test_a_script_of_the_request_calls_no_chat_model_and_costs_no_message(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(settings_for(tmp_path, openai_fake)) as api:
        key = await live_key(api, credits=100)
        body = {**BODY, "script": "Acme Rocket Shoes. Run like the wind."}
        created, done = await run(api, key, body)
        assert created["credits_reserved"] == CREDITS
        assert done["status"] == "completed", done
        assert done["outputs"][0]["script"] == "Acme Rocket Shoes. Run like the wind."
        assert openai_fake.calls(CHAT) == []


async def test_a_chat_failure_fails_the_job_and_refunds_it_all(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    """A provider error, and a reply that breaks the format (one sentence only): each fails the
    job (no template script in its place), refunded in full; the chat is never repeated."""
    openai_fake.script(
        CHAT,
        error(500, "The server had an error.", "server_error"),
        answer(json.dumps({"sentences": ["Acme Rocket Shoes, for you."]})),
    )
    async with open_api(settings_for(tmp_path, openai_fake)) as api:
        key = await live_key(api, credits=100)
        price = CREDITS + CHAT_PRICE
        for calls in (1, 2):
            _, done = await run(api, key, BODY)
            assert done["status"] == "failed", done
            assert done["credits_charged"] == 0 and done["outputs"] == []
            kinds = await ledger_kinds(api, key, done["id"])
            assert kinds == {"reserve": [price], "refund": [-price]}
            assert len(openai_fake.calls(CHAT)) == calls
        assert "1 sentences" in done["error"]["message"], done["error"]
        account = (await api.client.get("/api/v1/account", headers=auth(key))).json()
        assert (account["credit_balance"], account["credits_reserved"]) == (100, 0)
