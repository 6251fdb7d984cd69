"""builtin/espeak over HTTP: a live key speaks text into decodable audio, voices are listed,
and an unknown voice or language is a 400 before anything is charged."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import Api, auth, make_settings, open_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    # Only the built-in engines (and the sandbox): builtin/espeak is the default speech model.
    settings = make_settings(tmp_path / "data", disabled_engines=[], engine_modules=[])
    async with open_api(settings) as opened:
        yield opened


async def live_key(api: Api, credits: int = 10) -> str:
    return await api.key(await api.account(credits=credits))


async def test_generate_speech_with_a_live_key_returns_speech(api: Api) -> None:
    key = await live_key(api)
    body = {
        "text": "Hello from MediaStudio. This voice is made by espeak.",
        "voice": "en-us+f3",
        "output_format": "ogg",
        "speed": 1.2,
        "pitch": 60,
    }
    created = await api.client.post("/api/v1/generate/speech", json=body, headers=auth(key))
    assert created.status_code == 202, created.text
    job = created.json()
    assert job["model"] == "builtin/espeak" and job["credits_reserved"] == 1
    assert job["input"]["voice"] == "en-us+f3" and job["input"]["language"] == "en-us"

    done = await api.wait(key, job["id"])
    assert done["status"] == "completed", done
    assert done["credits_charged"] == 1 and done["progress"] == 100
    (output,) = done["outputs"]
    assert output["content_type"] == "audio/ogg" and output["voice"] == "en-us+f3"
    response = await api.client.get(output["url"])
    assert response.status_code == 200
    with av.open(io.BytesIO(response.content)) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.rate) == ("opus", 48000)
        samples = np.concatenate([f.to_ndarray().ravel() for f in container.decode(stream)])
    seconds = len(samples) / 48000
    assert abs(seconds - output["duration_s"]) < 0.1 and 2.0 < seconds < 6.0
    assert float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) > 0.03


async def test_unknown_voice_or_language_is_a_400_and_charges_nothing(api: Api) -> None:
    key = await live_key(api, credits=5)
    for extra, field in (({"voice": "nobody"}, "voice"), ({"language": "qq"}, "language")):
        response = await api.client.post(
            "/api/v1/generate/speech", json={"text": "Hi.", **extra}, headers=auth(key)
        )
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_request" and "/api/v1/voices" in error["message"] + str(
            error["details"]
        )
        assert [f["field"] for f in error["details"]["fields"]] == [field]
    account = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    assert account["credit_balance"] == 5 and account["credits_reserved"] == 0


async def test_voices_are_listed_and_filtered_by_language(api: Api) -> None:
    key = await live_key(api)
    assert (await api.client.get("/api/v1/voices")).status_code == 401
    everything = (await api.client.get("/api/v1/voices", headers=auth(key))).json()
    assert everything["total"] == len(everything["data"]) > 200
    by_id = {voice["id"]: voice for voice in everything["data"]}
    assert by_id["en-us"] == {
        "id": "en-us",
        "name": "English (America)",
        "language": "en-us",
        "languages": ["en-us", "en"],
        "gender": "male",
        "model": "builtin/espeak",
        "engine": "espeak",
        "custom": False,
    }
    french = (await api.client.get("/api/v1/voices?language=fr", headers=auth(key))).json()
    assert french["total"] >= 2
    assert all(any(c.startswith("fr") for c in v["languages"]) for v in french["data"])
    schema = (await api.client.get("/api/v1/models/builtin/espeak", headers=auth(key))).json()
    assert schema["input_schema"]["properties"]["pitch"]["maximum"] == 100
