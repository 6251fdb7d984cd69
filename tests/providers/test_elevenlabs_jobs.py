"""Speech on ElevenLabs, end to end through the ASGI app against the fake ElevenLabs: audio is
made, decoded and charged once; provider errors are refunded; a terms-of-service refusal is
``invalid_prompt``; a 429 is waited out; the account's voices are listed (and kept a while);
sandbox keys never call."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import pytest

from tests.conftest import Api, auth, open_api
from tests.providers.conftest import elevenlabs_settings
from tests.providers.fake_elevenlabs import (
    ALICE,
    GEORGE,
    MATILDA,
    FakeElevenLabs,
    error,
    out_of_quota,
    rate_limited,
)
from tests.providers.test_replicate_jobs import _until, balance, create, ledger_kinds, live_key

SPEECH = "/api/v1/generate/speech"


async def _audio(api: Api, output: dict[str, Any]) -> tuple[str, int, float]:
    """The container's name, sample rate and seconds of audio decoded from the output."""
    response = await api.client.get(output["url"])
    assert response.status_code == 200
    with av.open(io.BytesIO(response.content)) as opened:
        stream = opened.streams.audio[0]
        samples = sum(frame.samples for frame in opened.decode(stream))
        return opened.format.name.split(",")[0], stream.rate, samples / stream.rate


async def test_multilingual_v2_speaks_mp3_captured_once(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs
) -> None:
    async with open_api(elevenlabs_settings(tmp_path / "data", elevenlabs_fake)) as api:
        key = await live_key(api, credits=100)
        body = {
            "model": "elevenlabs/eleven_multilingual_v2",
            "text": "Welcome to the studio, everyone.",  # 32 characters: about 2.1 s
            "language": "de",  # not sent: multilingual_v2 takes no language_code
            "options": {"seed": 7},
        }
        job = await create(api, key, SPEECH, body)
        assert job["credits_reserved"] == 40
        done = await api.wait(key, job["id"])
        assert done["status"] == "completed", done
        assert done["provider"] == "elevenlabs" and done["credits_charged"] == 40
        [call] = elevenlabs_fake.speech_calls()
        assert call.path == f"/v1/text-to-speech/{GEORGE}"  # the default voice
        assert call.headers["xi-api-key"] == elevenlabs_fake.key
        assert "authorization" not in call.headers
        assert call.query == {"output_format": "mp3_44100_128"}
        assert call.body == {
            "text": "Welcome to the studio, everyone.",
            "model_id": "eleven_multilingual_v2",
            "seed": 7,
        }
        [output] = done["outputs"]
        assert output["content_type"] == "audio/mpeg"
        container, rate, seconds = await _audio(api, output)
        assert (container, rate) == ("mp3", 44100) and 1.9 < seconds < 2.4
        assert output["duration_s"] == pytest.approx(seconds, abs=0.05)
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [40], "capture": [-40]}
        assert await balance(api, key) == (60, 0)


async def test_flash_sends_language_and_voice_settings_and_writes_wav(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs
) -> None:
    async with open_api(elevenlabs_settings(tmp_path / "data", elevenlabs_fake)) as api:
        key = await live_key(api)
        body = {
            "model": "elevenlabs/eleven_flash_v2_5",
            "text": "Bom dia a todos, e bem-vindos.",  # 30 characters at 1.2: about 1.7 s
            "voice": MATILDA,
            "language": "pt-BR",
            "speed": 1.2,
            "stability": 0.3,
            "style": 0.0,
            "output_format": "wav",
        }
        done = await api.wait(key, (await create(api, key, SPEECH, body))["id"])
        assert done["status"] == "completed", done
        [call] = elevenlabs_fake.speech_calls()
        assert call.path == f"/v1/text-to-speech/{MATILDA}"
        assert call.query == {"output_format": "wav_24000"}
        assert call.body["language_code"] == "pt"
        assert call.body["voice_settings"] == {"stability": 0.3, "style": 0.0, "speed": 1.2}
        [output] = done["outputs"]
        assert output["content_type"] == "audio/wav"
        container, rate, seconds = await _audio(api, output)
        assert (container, rate) == ("wav", 24000) and 1.5 < seconds < 1.9


async def test_a_terms_of_service_refusal_is_invalid_prompt_and_refunded(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs
) -> None:
    async with open_api(elevenlabs_settings(tmp_path / "data", elevenlabs_fake)) as api:
        key = await live_key(api, credits=100)
        body = {"model": "elevenlabs/eleven_flash_v2_5", "text": "Say something forbidden."}
        job = await create(api, key, SPEECH, body)
        done = await api.wait(key, job["id"])
        assert done["status"] == "failed"
        assert done["error"]["code"] == "invalid_prompt", done["error"]
        assert "Terms of Service" in done["error"]["message"]
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [20], "refund": [-20]}
        assert await balance(api, key) == (100, 0)


@pytest.mark.parametrize(
    ("answer", "code", "words"),
    [
        (error(500, "internal_error", "Something went wrong."), "provider_error", "(500)"),
        (out_of_quota(), "provider_error", "out of quota"),
        (
            error(401, "invalid_api_key", "Invalid API key"),
            "provider_error",
            "MEDIASTUDIO_PROVIDERS__ELEVENLABS__API_KEY",
        ),
        (
            error(404, "voice_not_found", "A voice with the voice_id x was not found."),
            "invalid_input",
            "voice_id x was not found",
        ),
    ],
    ids=["5xx", "quota_exceeded", "401", "voice_not_found"],
)
async def test_errors_fail_the_job_refunded_after_one_call(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs, answer: Any, code: str, words: str
) -> None:
    elevenlabs_fake.script(answer)
    async with open_api(elevenlabs_settings(tmp_path / "data", elevenlabs_fake)) as api:
        key = await live_key(api, credits=100)
        body = {"model": "elevenlabs/eleven_flash_v2_5", "text": "Hello."}
        job = await create(api, key, SPEECH, body)
        done = await api.wait(key, job["id"])
        assert done["status"] == "failed" and done["error"]["code"] == code, done
        assert words in done["error"]["message"]
        assert elevenlabs_fake.key not in done["error"]["message"]
        assert len(elevenlabs_fake.speech_calls()) == 1  # never repeated after a 5xx
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [20], "refund": [-20]}
        assert await balance(api, key) == (100, 0)


async def test_a_429_is_waited_out_with_its_retry_after(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs
) -> None:
    elevenlabs_fake.script(rate_limited(1))
    async with open_api(elevenlabs_settings(tmp_path / "data", elevenlabs_fake)) as api:
        key = await live_key(api)
        body = {"model": "elevenlabs/eleven_flash_v2_5", "text": "Hello."}
        done = await api.wait(key, (await create(api, key, SPEECH, body))["id"])
        assert done["status"] == "completed", done
        assert len(elevenlabs_fake.speech_calls()) == 2


async def test_invalid_input_is_refused_before_any_call(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs
) -> None:
    async with open_api(elevenlabs_settings(tmp_path / "data", elevenlabs_fake)) as api:
        key = await live_key(api)
        for body in (
            {"model": "elevenlabs/eleven_flash_v2_5", "text": "Hi.", "speed": 2.0},
            {"model": "elevenlabs/eleven_flash_v2_5", "text": "Hi.", "voice": "../v1/voices"},
            {"model": "elevenlabs/eleven_multilingual_v2", "text": "x" * 5001},
            {"model": "elevenlabs/eleven_multilingual_v2", "text": "Hi.", "output_format": "ogg"},
            {"model": "elevenlabs/eleven_flash_v2_5", "text": "Hi.", "stability": 1.5},
        ):
            response = await api.client.post(SPEECH, json=body, headers=auth(key))
            assert response.status_code in (400, 422), response.text
        assert elevenlabs_fake.received == []


async def test_the_accounts_voices_are_listed_next_to_espeaks(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs
) -> None:
    settings = elevenlabs_settings(tmp_path / "data", elevenlabs_fake, disabled_engines=[])
    async with open_api(settings) as api:
        key = await live_key(api)
        listed = (await api.client.get("/api/v1/voices", headers=auth(key))).json()["data"]
        by_model: dict[str, dict[str, dict[str, Any]]] = {}
        for voice in listed:
            by_model.setdefault(voice["model"], {})[voice["id"]] = voice
        assert "builtin/espeak" in by_model
        multilingual = by_model["elevenlabs/eleven_multilingual_v2"]
        flash = by_model["elevenlabs/eleven_flash_v2_5"]
        assert set(multilingual) == set(flash) == {GEORGE, ALICE, MATILDA}
        assert multilingual[GEORGE]["language"] == "en"  # premade: English
        assert multilingual[GEORGE]["gender"] == "male" and multilingual[GEORGE]["name"] == "George"
        assert multilingual[GEORGE]["engine"] == "providers"
        assert multilingual[ALICE]["languages"] == ["en", "it"]
        assert flash[MATILDA]["languages"] == ["de"]
        german = await api.client.get("/api/v1/voices?language=de", headers=auth(key))
        found = {(v["model"], v["id"]) for v in german.json()["data"]}
        assert ("elevenlabs/eleven_flash_v2_5", MATILDA) in found
        assert ("elevenlabs/eleven_flash_v2_5", GEORGE) not in found
        # The list is read once and kept (MEDIASTUDIO_PROVIDERS__ELEVENLABS__VOICES_TTL_S).
        assert len(elevenlabs_fake.voice_calls()) == 1
    async with open_api(
        elevenlabs_settings(tmp_path / "bare", elevenlabs_fake, providers={})
    ) as api:
        key = await live_key(api)
        listed = (await api.client.get("/api/v1/voices", headers=auth(key))).json()["data"]
        assert not any(voice["model"].startswith("elevenlabs/") for voice in listed)
        model = await api.client.get(
            "/api/v1/models/elevenlabs/eleven_flash_v2_5", headers=auth(key)
        )
        assert not model.json()["available"]
        assert "MEDIASTUDIO_PROVIDERS__ELEVENLABS__API_KEY" in model.json()["unavailable_reason"]
    assert len(elevenlabs_fake.voice_calls()) == 1


async def test_voices_that_cannot_be_read_are_left_out(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs
) -> None:
    # Each model's listing tries three times (a read is retried twice).
    down = error(500, "internal_error", "down")
    elevenlabs_fake.script(*[down] * 6, endpoint="voices")
    settings = elevenlabs_settings(tmp_path / "data", elevenlabs_fake, disabled_engines=[])
    async with open_api(settings) as api:
        key = await live_key(api)
        response = await api.client.get("/api/v1/voices", headers=auth(key))
        assert response.status_code == 200
        models = {voice["model"] for voice in response.json()["data"]}
        assert "builtin/espeak" in models
        assert not any(model.startswith("elevenlabs/") for model in models)


async def test_sandbox_keys_never_call_elevenlabs(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs
) -> None:
    async with open_api(elevenlabs_settings(tmp_path / "data", elevenlabs_fake)) as api:
        account = await api.account(credits=10)
        key = await api.key(account, sandbox=True)
        for model in ("elevenlabs/eleven_multilingual_v2", "elevenlabs/eleven_flash_v2_5"):
            body = {"model": model, "text": "Hello there.", "output_format": "wav"}
            done = await api.wait(key, (await create(api, key, SPEECH, body))["id"])
            assert done["status"] == "completed" and done["sandbox"], done
            assert done["outputs"][0]["content_type"] == "audio/wav"
        assert elevenlabs_fake.received == []


async def test_the_voice_list_is_read_again_once_its_ttl_has_passed(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs
) -> None:
    providers = {
        "elevenlabs": {
            "api_key": elevenlabs_fake.key,
            "base_url": elevenlabs_fake.base_url,
            "voices_ttl_s": 0,
        }
    }
    settings = elevenlabs_settings(tmp_path / "data", elevenlabs_fake, providers=providers)
    async with open_api(settings) as api:
        key = await live_key(api)
        path = "/api/v1/voices?model=elevenlabs/eleven_flash_v2_5"
        for _ in range(2):
            listed = (await api.client.get(path, headers=auth(key))).json()["data"]
            assert {voice["id"] for voice in listed} == {GEORGE, ALICE, MATILDA}
        assert len(elevenlabs_fake.voice_calls()) == 2


async def test_a_cancel_drops_the_call_in_flight_and_refunds(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs
) -> None:
    elevenlabs_fake.slow_s = 30.0  # ElevenLabs still speaking: the cancel must not wait for it
    async with open_api(elevenlabs_settings(tmp_path / "data", elevenlabs_fake)) as api:
        key = await live_key(api, credits=100)
        body = {"model": "elevenlabs/eleven_multilingual_v2", "text": "A slow sentence."}
        job = await create(api, key, SPEECH, body)
        await _until(lambda: len(elevenlabs_fake.speech_calls()) == 1)
        cancelled = await api.client.post(
            f"/api/v1/generations/{job['id']}/cancel", headers=auth(key)
        )
        assert cancelled.json()["status"] == "cancelled"
        done = await api.wait(key, job["id"])
        assert done["status"] == "cancelled" and done["outputs"] == []
        assert await balance(api, key) == (100, 0)
