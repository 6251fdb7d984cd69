"""Generations on OpenAI, end to end through the ASGI app against the fake OpenAI: images and
speech are made, decoded and charged once; provider errors are refunded; a content refusal is
``invalid_prompt``; a 429 is waited out; OpenAI's voices are listed; sandbox keys never call."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from tests.conftest import Api, auth, open_api
from tests.providers.conftest import openai_settings
from tests.providers.fake_openai import FakeOpenAI, error, out_of_quota, rate_limited
from tests.providers.test_replicate_jobs import _until, balance, create, ledger_kinds, live_key

IMAGES, SPEECH = "/v1/images/generations", "/v1/audio/speech"


async def _download(api: Api, output: dict[str, Any]) -> bytes:
    response = await api.client.get(output["url"])
    assert response.status_code == 200
    return response.content


def _audio(data: bytes) -> tuple[str, float]:
    """The container's name and the seconds of audio decoded from ``data``."""
    with av.open(io.BytesIO(data)) as opened:
        stream = opened.streams.audio[0]
        samples = sum(frame.samples for frame in opened.decode(stream))
        return opened.format.name.split(",")[0], samples / stream.rate


async def test_gpt_image_1_makes_images_copied_in_and_charged_once(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=200)
        body = {
            "model": "openai/gpt-image-1",
            "prompt": "a red bicycle",
            "aspect_ratio": "16:9",
            "num_outputs": 2,
            "output_format": "jpg",
            "options": {"quality": "low"},
        }
        job = await create(api, key, "/api/v1/generate/image", body)
        assert job["credits_reserved"] == 140
        done = await api.wait(key, job["id"])
        assert done["status"] == "completed", done
        assert done["provider"] == "openai" and done["credits_charged"] == 140
        [call] = openai_fake.calls(IMAGES)
        assert call.headers["authorization"] == f"Bearer {openai_fake.key}"
        assert call.body == {
            "model": "gpt-image-1",
            "prompt": "a red bicycle",
            "n": 2,
            "size": "1536x1024",  # the nearest of OpenAI's sizes to 16:9
            "output_format": "jpeg",
            "quality": "low",
        }
        [attempt] = done["attempts"]
        assert attempt["route"] == "openai/gpt-image-1" and attempt["outcome"] == "succeeded"
        assert len(done["outputs"]) == 2
        for output in done["outputs"]:
            with Image.open(io.BytesIO(await _download(api, output))) as image:
                assert (image.format, image.size) == ("JPEG", (1536, 1024))
            assert (output["width"], output["height"]) == (1536, 1024)
            assert output["content_type"] == "image/jpeg"
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [140], "capture": [-140]}
        assert await balance(api, key) == (60, 0)


async def test_dall_e_3_images_come_back_inline_or_by_url(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api)
        body = {"model": "openai/dall-e-3", "prompt": "a lighthouse", "width": 512, "height": 900}
        done = await api.wait(key, (await create(api, key, "/api/v1/generate/image", body))["id"])
        assert done["status"] == "completed", done
        [call] = openai_fake.calls(IMAGES)
        assert call.body["size"] == "1024x1792" and call.body["response_format"] == "b64_json"
        with Image.open(io.BytesIO(await _download(api, done["outputs"][0]))) as image:
            assert (image.format, image.size) == ("PNG", (1024, 1792))


@pytest.mark.parametrize(
    ("fmt", "sent", "container", "content_type"),
    [("mp3", "mp3", "mp3", "audio/mpeg"), ("ogg", "opus", "ogg", "audio/ogg")],
)
async def test_neural_speech_is_real_audio_of_the_format_asked(
    tmp_path: Path,
    openai_fake: FakeOpenAI,
    fmt: str,
    sent: str,
    container: str,
    content_type: str,
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        body = {
            "model": "openai/gpt-4o-mini-tts",
            "text": "Welcome to the studio, everyone.",  # 32 characters: about 2.1 s
            "voice": "coral",
            "output_format": fmt,
            "instructions": "Speak warmly.",
        }
        job = await create(api, key, "/api/v1/generate/speech", body)
        done = await api.wait(key, job["id"])
        assert done["status"] == "completed", done
        [call] = openai_fake.calls(SPEECH)
        assert call.body == {
            "model": "gpt-4o-mini-tts",
            "input": "Welcome to the studio, everyone.",
            "voice": "coral",
            "speed": 1.0,
            "response_format": sent,
            "instructions": "Speak warmly.",
        }
        [output] = done["outputs"]
        assert output["content_type"] == content_type
        found, seconds = _audio(await _download(api, output))
        assert found == container and 1.9 < seconds < 2.4
        assert output["duration_s"] == pytest.approx(seconds, abs=0.05)
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [20], "capture": [-20]}


async def test_a_content_refusal_is_invalid_prompt_and_refunded(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        body = {"model": "openai/gpt-image-1", "prompt": "something forbidden"}
        job = await create(api, key, "/api/v1/generate/image", body)
        done = await api.wait(key, job["id"])
        assert done["status"] == "failed"
        assert done["error"]["code"] == "invalid_prompt", done["error"]
        assert "safety system" in done["error"]["message"]
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [70], "refund": [-70]}
        assert await balance(api, key) == (100, 0)


@pytest.mark.parametrize(
    "answer",
    [
        error(500, "The server had an error while processing your request.", "server_error"),
        out_of_quota(),
        error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    ],
    ids=["5xx", "insufficient_quota", "401"],
)
async def test_provider_errors_fail_the_job_refunded_without_a_second_call(
    tmp_path: Path, openai_fake: FakeOpenAI, answer: Any
) -> None:
    openai_fake.script(SPEECH, answer)
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        body = {"model": "openai/tts-1", "text": "Hello.", "voice": "alloy"}
        job = await create(api, key, "/api/v1/generate/speech", body)
        done = await api.wait(key, job["id"])
        assert done["status"] == "failed" and done["error"]["code"] == "provider_error", done
        assert len(openai_fake.calls(SPEECH)) == 1  # a create is never repeated after a 5xx
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [20], "refund": [-20]}
        assert await balance(api, key) == (100, 0)


async def test_a_429_is_waited_out_and_the_job_completes(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    openai_fake.script(SPEECH, rate_limited(0.05), rate_limited(0.05))
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api)
        body = {"model": "openai/tts-1", "text": "Hello.", "voice": "nova"}
        done = await api.wait(key, (await create(api, key, "/api/v1/generate/speech", body))["id"])
        assert done["status"] == "completed", done
        assert len(openai_fake.calls(SPEECH)) == 3


async def test_invalid_input_is_refused_before_any_call(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api)
        for body in (
            {"model": "openai/tts-1", "text": "Hi.", "voice": "verse"},  # gpt-4o-mini-tts's
            {"model": "openai/gpt-4o-mini-tts", "text": "Hi.", "voice": "bob"},
            {"model": "openai/gpt-4o-mini-tts", "text": "x" * 4097},
        ):
            response = await api.client.post(
                "/api/v1/generate/speech", json=body, headers=auth(key)
            )
            assert response.status_code in (400, 422), response.text
        response = await api.client.post(
            "/api/v1/generate/image",
            json={"model": "openai/dall-e-3", "prompt": "x", "num_outputs": 2},
            headers=auth(key),
        )
        assert response.status_code in (400, 422), response.text
        assert openai_fake.received == []


async def test_openai_voices_are_listed_next_to_espeaks(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    settings = openai_settings(tmp_path / "data", openai_fake, disabled_engines=[])
    async with open_api(settings) as api:
        key = await live_key(api)
        listed = (await api.client.get("/api/v1/voices", headers=auth(key))).json()["data"]
        by_model: dict[str, set[str]] = {}
        for voice in listed:
            by_model.setdefault(voice["model"], set()).add(voice["id"])
        assert "builtin/espeak" in by_model
        assert len(by_model["openai/gpt-4o-mini-tts"]) == 11
        assert by_model["openai/tts-1"] == by_model["openai/gpt-4o-mini-tts"] - {"ballad", "verse"}
        coral = next(v for v in listed if v["id"] == "coral" and v["model"].startswith("openai/"))
        assert coral["engine"] == "providers" and coral["language"] == "en"
        only = await api.client.get("/api/v1/voices?model=openai/tts-1", headers=auth(key))
        assert {voice["id"] for voice in only.json()["data"]} == by_model["openai/tts-1"]
    async with open_api(openai_settings(tmp_path / "bare", openai_fake, providers={})) as api:
        key = await live_key(api)
        listed = (await api.client.get("/api/v1/voices", headers=auth(key))).json()["data"]
        assert not any(voice["model"].startswith("openai/") for voice in listed)
        model = (
            await api.client.get("/api/v1/models/openai/gpt-image-1", headers=auth(key))
        ).json()
        assert not model["available"]
        assert "MEDIASTUDIO_PROVIDERS__OPENAI__API_KEY" in model["unavailable_reason"]


async def test_sandbox_keys_never_call_openai(tmp_path: Path, openai_fake: FakeOpenAI) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        account = await api.account(credits=10)
        key = await api.key(account, sandbox=True)
        image = {"model": "openai/gpt-image-1", "prompt": "a cat", "aspect_ratio": "2:3"}
        speech = {"model": "openai/gpt-4o-mini-tts", "text": "Hello there.", "voice": "sage"}
        for path, body in (("/api/v1/generate/image", image), ("/api/v1/generate/speech", speech)):
            done = await api.wait(key, (await create(api, key, path, body))["id"])
            assert done["status"] == "completed" and done["sandbox"], done
        assert openai_fake.received == []


async def test_a_cancel_drops_the_call_in_flight_and_refunds(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    openai_fake.slow_s = 30.0  # OpenAI still drawing: the cancel must not wait for it
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        body = {"model": "openai/gpt-image-1", "prompt": "a slow cat"}
        job = await create(api, key, "/api/v1/generate/image", body)
        await _until(lambda: len(openai_fake.calls(IMAGES)) == 1)
        cancelled = await api.client.post(
            f"/api/v1/generations/{job['id']}/cancel", headers=auth(key)
        )
        assert cancelled.json()["status"] == "cancelled"
        done = await api.wait(key, job["id"])
        assert done["status"] == "cancelled" and done["outputs"] == []
        assert await balance(api, key) == (100, 0)
