"""Generations on OpenAI, end to end through the ASGI app against the fake OpenAI: images and
speech are made, decoded and charged once; provider errors are refunded; a content refusal is
``invalid_prompt``; a 429 is waited out; OpenAI's voices are listed; sandbox keys never call;
retired models are refused with their reason and replacement, and retire by the clock."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
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


async def test_gpt_image_1_5_makes_images_copied_in_and_charged_once(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=200)
        body = {
            "model": "openai/gpt-image-1.5",
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
            "model": "gpt-image-1.5",
            "prompt": "a red bicycle",
            "n": 2,
            "size": "1536x1024",  # the nearest of OpenAI's sizes to 16:9
            "output_format": "jpeg",
            "quality": "low",
        }
        [attempt] = done["attempts"]
        assert attempt["route"] == "openai/gpt-image-1.5" and attempt["outcome"] == "succeeded"
        assert len(done["outputs"]) == 2
        for output in done["outputs"]:
            with Image.open(io.BytesIO(await _download(api, output))) as image:
                assert (image.format, image.size) == ("JPEG", (1536, 1024))
            assert (output["width"], output["height"]) == (1536, 1024)
            assert output["content_type"] == "image/jpeg"
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [140], "capture": [-140]}
        assert await balance(api, key) == (60, 0)


@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ({"width": 1000, "height": 700}, (992, 704)),  # each side to a multiple of 16
        ({"aspect_ratio": "16:9"}, (1360, 768)),  # about a megapixel
        ({"width": 3840, "height": 2160}, (3840, 2160)),  # its largest: past /generate/image's
    ],
)
async def test_gpt_image_2_makes_the_size_asked_for(
    tmp_path: Path, openai_fake: FakeOpenAI, shape: dict[str, Any], size: tuple[int, int]
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api)
        data = {"prompt": "a lighthouse", **shape}
        # The generic route: the model's own input, whose sides go past /generate/image's 2048.
        body = {"model": "openai/gpt-image-2", "input": data}
        done = await api.wait(key, (await create(api, key, "/api/v1/generations", body))["id"])
        assert done["status"] == "completed", done
        [call] = openai_fake.calls(IMAGES)
        assert call.body["model"] == "gpt-image-2"
        assert call.body["size"] == f"{size[0]}x{size[1]}"
        [output] = done["outputs"]
        assert (output["width"], output["height"]) == size
        with Image.open(io.BytesIO(await _download(api, output))) as image:
            assert (image.format, image.size) == ("WEBP", size)


@pytest.mark.parametrize(
    "body",
    [
        {"model": "openai/gpt-image-1", "prompt": "a fox"},
        {"model": "openai/dall-e-3", "prompt": "a fox"},
    ],
)
async def test_a_retired_model_is_503_with_its_reason_and_never_called(
    tmp_path: Path, openai_fake: FakeOpenAI, body: dict[str, Any]
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        account = await api.account(credits=100)
        for sandbox in (False, True):  # the sandbox would promise a model that no longer runs
            key = await api.key(account, sandbox=sandbox)
            response = await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))
            assert response.status_code == 503, response.text
            problem = response.json()["error"]
            assert problem["code"] == "model_unavailable"
            assert "was retired on 2026-" in problem["message"]
            replacement = problem["details"]["replacement"]
            assert replacement in ("openai/gpt-image-1.5", "openai/gpt-image-2")
            assert replacement in problem["details"]["reason"]
            listed = await api.client.get(f"/api/v1/models/{body['model']}", headers=auth(key))
            model = listed.json()
            assert model["available"] is False
            assert model["unavailable_reason"] == problem["details"]["reason"]
            assert model["deprecation"]["replacement"] == replacement
        assert openai_fake.received == []


async def test_a_model_retires_itself_on_its_shutdown_day(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api)
        listed = await api.client.get("/api/v1/models?type=transcription", headers=auth(key))
        whisper = next(m for m in listed.json()["data"] if m["id"] == "openai/whisper-1")
        assert whisper["available"] is True
        assert whisper["deprecation"] == {
            "shutdown_date": "2027-02-26",
            "replacement": "openai/gpt-transcribe",
        }
        current = next(m for m in listed.json()["data"] if m["id"] == "openai/gpt-transcribe")
        assert "deprecation" not in current
        # The clock reaches OpenAI's shutdown day: no release needed, whisper-1 is retired.
        api.platform.catalog.clock = lambda: datetime(2027, 2, 26, 0, 0, 1, tzinfo=UTC)
        listed = await api.client.get("/api/v1/models/openai/whisper-1", headers=auth(key))
        assert listed.json()["available"] is False
        assert listed.json()["unavailable_reason"] == (
            "openai/whisper-1 was retired on 2027-02-26 (its provider shut it down); use "
            "openai/gpt-transcribe instead."
        )
        body = {"model": "openai/whisper-1", "audio_url": "https://example.com/a.wav"}
        refused = await api.client.post("/api/v1/transcriptions", json=body, headers=auth(key))
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "model_unavailable"
        assert openai_fake.received == []
        # The day before, it ran: the rule is the date, not the release.
        api.platform.catalog.clock = lambda: datetime(2027, 2, 25, 23, 59, tzinfo=UTC)
        listed = await api.client.get("/api/v1/models/openai/whisper-1", headers=auth(key))
        assert listed.json()["available"] is True


async def test_the_operator_may_pin_the_day_the_lifecycle_is_judged_by(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    # OpenAI kept a model running past its announced day: the operator pins the day before.
    pinned = date(2027, 2, 25)
    settings = openai_settings(tmp_path / "data", openai_fake, model_lifecycle_date=pinned)
    async with open_api(settings) as api:
        key = await live_key(api)
        listed = await api.client.get("/api/v1/models/openai/whisper-1", headers=auth(key))
        assert listed.json()["available"] is True
    later = openai_settings(tmp_path / "later", openai_fake, model_lifecycle_date=date(2027, 3, 1))
    async with open_api(later) as api:
        key = await live_key(api)
        listed = await api.client.get("/api/v1/models/openai/whisper-1", headers=auth(key))
        assert listed.json()["available"] is False


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
        body = {"model": "openai/gpt-image-2", "prompt": "something forbidden"}
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
            json={"model": "openai/gpt-image-2", "prompt": "x", "width": 256, "height": 1024},
            headers=auth(key),
        )
        assert response.status_code == 400, response.text  # taller than 1:3
        assert "between 1:3 and 3:1" in response.text
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
        # From OpenAI's speech shutdown on, its models and so their voices are gone.
        api.platform.catalog.clock = lambda: datetime(2027, 1, 6, tzinfo=UTC)
        listed = (await api.client.get("/api/v1/voices", headers=auth(key))).json()["data"]
        assert {voice["model"] for voice in listed} == {"builtin/espeak"}
    async with open_api(openai_settings(tmp_path / "bare", openai_fake, providers={})) as api:
        key = await live_key(api)
        listed = (await api.client.get("/api/v1/voices", headers=auth(key))).json()["data"]
        assert not any(voice["model"].startswith("openai/") for voice in listed)
        model = (
            await api.client.get("/api/v1/models/openai/gpt-image-2", headers=auth(key))
        ).json()
        assert not model["available"]
        assert "MEDIASTUDIO_PROVIDERS__OPENAI__API_KEY" in model["unavailable_reason"]


async def test_sandbox_keys_never_call_openai(tmp_path: Path, openai_fake: FakeOpenAI) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        account = await api.account(credits=10)
        key = await api.key(account, sandbox=True)
        image = {"model": "openai/gpt-image-2", "prompt": "a cat", "aspect_ratio": "2:3"}
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
        body = {"model": "openai/gpt-image-1.5", "prompt": "a slow cat"}
        job = await create(api, key, "/api/v1/generate/image", body)
        await _until(lambda: len(openai_fake.calls(IMAGES)) == 1)
        cancelled = await api.client.post(
            f"/api/v1/generations/{job['id']}/cancel", headers=auth(key)
        )
        assert cancelled.json()["status"] == "cancelled"
        done = await api.wait(key, job["id"])
        assert done["status"] == "cancelled" and done["outputs"] == []
        assert await balance(api, key) == (100, 0)
