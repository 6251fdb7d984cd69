"""Talking avatars (``POST /api/v1/avatars/animate``), end to end through the ASGI app against
the fakes: ``veed-fabric`` on fal (the face and the sound sent inline, the MP4 decoded at
Fabric's frame and the sound's length) failing over to Replicate for one charge; a text spoken
first by the catalog's speech model (the fake OpenAI), priced with it, its sound the one
animated; a cancel reaching fal's request; an input refused before any provider is called,
refunded; a sandbox twin calling nobody; no key, no model."""

from __future__ import annotations

import io
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import pytest

from mediastudio.settings import Settings
from tests.conftest import Api, auth, make_settings, open_api
from tests.providers.conftest import providers_settings
from tests.providers.fake_fal import FakeFal, Plan
from tests.providers.fake_openai import FakeOpenAI
from tests.providers.fake_replicate import FakeReplicate, data_uri_bytes
from tests.providers.test_image_edit_jobs import png
from tests.providers.test_lipsync_jobs import data_uri, decoded_video, speech_wav, upload
from tests.providers.test_replicate_jobs import _until, balance, create, ledger_kinds, live_key

ANIMATE = "/api/v1/avatars/animate"
FAL_ROUTE = "fal/veed/fabric-1.0"
REPLICATE_ROUTE = "replicate/veed/fabric-1.0"
RATE = 264  # credits a second of output
PRICE = RATE * 30  # reserved: the longest job (30 s); the seconds not made come back at its end
SPEECH = "/v1/audio/speech"


def all_settings(
    data_dir: Path, fake: FakeReplicate, fal: FakeFal, openai: FakeOpenAI | None = None
) -> Settings:
    """fal and Replicate, and OpenAI (a speech model for texts) when given."""
    base = providers_settings(data_dir, replicate=fake, fal=fal)
    if openai is None:
        return base
    providers = {
        **base.providers.model_dump(),
        "openai": {"api_key": openai.key, "base_url": openai.api_url},
    }
    hosts = f"{base.net_allow_hosts},127.0.0.1:{urlsplit(openai.base_url).port}"
    return make_settings(data_dir, providers=providers, net_allow_hosts=hosts)


def seconds_of(audio: bytes) -> float:
    with av.open(io.BytesIO(audio)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / (stream.rate or 1)


@pytest.fixture
async def both(tmp_path: Path, fake: FakeReplicate, fal: FakeFal) -> AsyncIterator[Api]:
    async with open_api(all_settings(tmp_path / "data", fake, fal)) as opened:
        yield opened


async def test_an_uploaded_face_says_the_sound_on_fal(
    both: Api, fake: FakeReplicate, fal: FakeFal
) -> None:
    key = await live_key(both, credits=10_000)
    face, speech = png(320, 480), speech_wav(1.75)
    body = {
        "image_url": await upload(both, key, face, "face.png", "image/png"),
        "audio_url": data_uri(speech, "audio/wav"),
    }
    job = await create(both, key, ANIMATE, body)
    assert (job["type"], job["model"]) == ("avatar", "veed-fabric")
    assert job["credits_reserved"] == PRICE
    done = await both.wait(key, job["id"])
    assert done["status"] == "completed", done
    assert done["provider"] == "fal"
    [submit] = fal.submits
    assert submit.endpoint == "veed/fabric-1.0"
    sent = dict(submit.input)
    assert data_uri_bytes(sent.pop("image_url")) == face
    assert data_uri_bytes(sent.pop("audio_url")) == speech
    assert sent == {"resolution": "480p"}  # required by fal: always sent
    [output] = done["outputs"]
    size, picture_s, sound_s = await decoded_video(both, output)
    assert size == (528, 784) == (output["width"], output["height"])  # 2:3 at 480p's area
    assert picture_s == pytest.approx(1.75, abs=1 / 25)
    assert sound_s == pytest.approx(1.75, abs=0.05)
    charged = RATE * math.ceil(output["duration_s"])  # 1.75 s: 2 s
    assert done["credits_charged"] == charged == RATE * 2
    assert await ledger_kinds(both, key, job["id"]) == {
        "reserve": [PRICE],
        "capture": [-charged],
        "refund": [-(PRICE - charged)],
    }
    assert fake.creates == []


async def test_a_text_is_spoken_first_and_priced_with_the_speech_step(
    tmp_path: Path, fake: FakeReplicate, fal: FakeFal, openai_fake: FakeOpenAI
) -> None:
    async with open_api(all_settings(tmp_path / "data", fake, fal, openai_fake)) as api:
        key = await live_key(api, credits=10_000)
        text = "Hello there, this is the weekly update."
        body = {"image_url": data_uri(png(640, 360), "image/png"), "text": text, "voice": "ash"}
        job = await create(api, key, ANIMATE, body)
        speech_model = job["input"]["speech_model"]  # the catalog's default, written in
        described = await api.client.get(f"/api/v1/models/{speech_model}", headers=auth(key))
        step_price = described.json()["credits_per_generation"]
        assert job["credits_reserved"] == PRICE + step_price
        done = await api.wait(key, job["id"])
        assert done["status"] == "completed", done
        [said] = openai_fake.calls(SPEECH)
        assert said.body["input"] == text and said.body["voice"] == "ash"
        [submit] = fal.submits
        spoken = data_uri_bytes(submit.input["audio_url"])  # the step's sound, sent inline
        [output] = done["outputs"]
        size, picture_s, sound_s = await decoded_video(api, output)
        assert size == (864, 480)  # 16:9 at 480p: VEED's own example
        assert picture_s == pytest.approx(seconds_of(spoken), abs=1 / 25)
        assert sound_s == pytest.approx(seconds_of(spoken), abs=0.05)
        # The speech step in full, the talking head by the second of what it made.
        charged = step_price + RATE * math.ceil(output["duration_s"])
        assert done["credits_charged"] == charged
        assert await ledger_kinds(api, key, job["id"]) == {
            "reserve": [PRICE + step_price],
            "capture": [-charged],
            "refund": [-(PRICE + step_price - charged)],
        }


async def test_a_fal_failure_hands_the_avatar_to_replicate_for_one_charge(
    both: Api, fake: FakeReplicate, fal: FakeFal
) -> None:
    fal.script("submit", 503, {"detail": "No runner", "error_type": "runner_scheduling_failure"})
    key = await live_key(both, credits=10_000)
    face, speech = png(400, 400), speech_wav(1.0)
    body = {
        "model": "veed-fabric",
        "image_url": data_uri(face, "image/png"),
        "audio_url": data_uri(speech, "audio/wav"),
        "resolution": "720p",
    }
    done = await both.wait(key, (await create(both, key, ANIMATE, body))["id"])
    assert done["status"] == "completed", done
    assert done["provider"] == "replicate"
    assert [(a["route"], a["outcome"]) for a in done["attempts"]] == [
        (FAL_ROUTE, "failed_over"),
        (REPLICATE_ROUTE, "succeeded"),
    ]
    [prediction] = fake.creates
    sent = dict(prediction.input)
    assert data_uri_bytes(sent.pop("image")) == face
    assert data_uri_bytes(sent.pop("audio")) == speech
    assert sent == {"resolution": "720p"}
    size, picture_s, _ = await decoded_video(both, done["outputs"][0])
    assert size == (976, 976)  # square at 720p's area
    assert picture_s == pytest.approx(1.0, abs=1 / 25)
    charged = RATE * math.ceil(done["outputs"][0]["duration_s"])  # one charge, for 1 s
    assert done["credits_charged"] == charged
    assert await ledger_kinds(both, key, done["id"]) == {
        "reserve": [PRICE],
        "capture": [-charged],
        "refund": [-(PRICE - charged)],
    }


async def test_cancelling_an_avatar_cancels_fals_request(both: Api, fal: FakeFal) -> None:
    fal.plans.append(Plan(stall=True))
    key = await live_key(both, credits=10_000)
    body = {
        "image_url": data_uri(png(64, 64), "image/png"),
        "audio_url": data_uri(speech_wav(1.0), "audio/wav"),
    }
    job = await create(both, key, ANIMATE, body)
    await both.wait(key, job["id"], until=lambda found: found["progress"] >= 10)
    [queued] = fal.submits
    cancelled = await both.client.post(f"/api/v1/generations/{job['id']}/cancel", headers=auth(key))
    assert cancelled.json()["status"] == "cancelled"
    await _until(lambda: fal.cancelled == [queued.id])
    assert await balance(both, key) == (10_000, 0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("image_url", "https://10.0.0.1/face.png", "non-public address"),
        ("audio_url", "https://192.168.1.1/speech.wav", "non-public address"),
        ("image_url", data_uri(b"not an image", "image/png"), "image_url is not an image"),
    ],
)
async def test_an_unusable_input_fails_the_avatar_before_any_call_refunded(
    both: Api, fake: FakeReplicate, fal: FakeFal, field: str, value: str, message: str
) -> None:
    key = await live_key(both, credits=10_000)
    body = {
        "image_url": data_uri(png(64, 64), "image/png"),
        "audio_url": data_uri(speech_wav(1.0), "audio/wav"),
        field: value,
    }
    done = await both.wait(key, (await create(both, key, ANIMATE, body))["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "invalid_input", done
    assert message in done["error"]["message"]
    assert fal.submits == [] and fake.creates == []
    assert await ledger_kinds(both, key, done["id"]) == {"reserve": [PRICE], "refund": [-PRICE]}


@pytest.mark.parametrize(
    "extra",
    [
        {"audio_url": "file_x", "text": "hi"},  # both
        {},  # neither
        {"audio_url": "file_x", "voice": "ash"},  # a voice for a sound
        {"audio_url": "file_x", "resolution": "1080p"},
    ],
)
async def test_what_fabric_cannot_take_is_a_400(both: Api, extra: dict[str, Any]) -> None:
    key = await live_key(both, credits=10_000)
    body = {"image_url": "file_face", **extra}
    response = await both.client.post(ANIMATE, json=body, headers=auth(key))
    assert response.status_code == 400, response.text


async def test_sandbox_avatars_have_the_live_shape_and_call_nobody(
    tmp_path: Path, fake: FakeReplicate, fal: FakeFal, openai_fake: FakeOpenAI
) -> None:
    async with open_api(all_settings(tmp_path / "data", fake, fal, openai_fake)) as api:
        sandbox = await api.key(await api.account(), sandbox=True)
        body = {"image_url": data_uri(png(640, 360), "image/png"), "text": "Hello there."}
        done = await api.wait(sandbox, (await create(api, sandbox, ANIMATE, body))["id"])
        assert done["status"] == "completed" and done["sandbox"] is True, done
        assert done["model"] == "veed-fabric" and done["credits_charged"] == 0
        size, picture_s, sound_s = await decoded_video(api, done["outputs"][0])
        assert size == (864, 480)
        assert picture_s > 0 and sound_s > 0
        assert fake.received == [] and fal.received == [] and openai_fake.received == []


async def test_without_keys_avatars_are_unavailable_and_a_text_needs_a_speech_model(
    tmp_path: Path, fake: FakeReplicate, fal: FakeFal
) -> None:
    async with open_api(providers_settings(tmp_path / "bare")) as api:
        key = await live_key(api)
        listed = (await api.client.get("/api/v1/models?type=avatar", headers=auth(key))).json()
        [entry] = [m for m in listed["data"] if m["id"] == "veed-fabric"]
        assert entry["available"] is False
        assert "MEDIASTUDIO_PROVIDERS__FAL__API_KEY" in entry["unavailable_reason"]
        body = {"image_url": "file_x", "audio_url": "file_y"}
        refused = await api.client.post(ANIMATE, json=body, headers=auth(key))
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "model_unavailable"
    # fal has a key, but no speech model can say a text here (no OpenAI, no ElevenLabs key).
    async with open_api(all_settings(tmp_path / "fal", fake, fal)) as api:
        key = await live_key(api, credits=10_000)
        body = {"image_url": "file_x", "text": "hello", "speech_model": "openai/tts-1"}
        refused = await api.client.post(ANIMATE, json=body, headers=auth(key))
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["details"]["step"] == "speech"
        assert fal.received == []


async def test_a_voice_the_speech_model_lacks_is_a_400(
    tmp_path: Path, fake: FakeReplicate, fal: FakeFal, openai_fake: FakeOpenAI
) -> None:
    async with open_api(all_settings(tmp_path / "data", fake, fal, openai_fake)) as api:
        key = await live_key(api, credits=10_000)
        body = {"image_url": "file_x", "text": "hello", "voice": "nobody-at-all"}
        response = await api.client.post(ANIMATE, json=body, headers=auth(key))
        assert response.status_code == 400, response.text
        assert "speech_model" in response.text
        assert openai_fake.received == [] and fal.received == []


async def test_a_restart_mid_avatar_resumes_fals_request_without_speaking_again(
    tmp_path: Path, fake: FakeReplicate, fal: FakeFal, openai_fake: FakeOpenAI
) -> None:
    fal.plans.append(Plan(stall=True))
    settings = all_settings(tmp_path / "data", fake, fal, openai_fake)
    body = {"image_url": data_uri(png(640, 360), "image/png"), "text": "Hello again."}
    async with open_api(settings) as api:
        key = await live_key(api, credits=10_000)
        job = await create(api, key, ANIMATE, body)
        await api.wait(key, job["id"], until=lambda found: found["progress"] >= 30)
    # Stopped: fal's request keeps running, remembered with the job; the speech was said once.
    assert len(fal.submits) == 1 and fal.cancelled == []
    fal.release()
    async with open_api(settings) as api:
        done = await api.wait(key, job["id"])
        assert done["status"] == "completed", done
        assert len(fal.submits) == 1  # resumed, not submitted again
        assert len(openai_fake.calls(SPEECH)) == 1  # and not spoken again
        reserved, charged = job["credits_reserved"], done["credits_charged"]
        assert charged == reserved - RATE * (30 - math.ceil(done["outputs"][0]["duration_s"]))
        assert await ledger_kinds(api, key, job["id"]) == {
            "reserve": [reserved],
            "capture": [-charged],
            "refund": [-(reserved - charged)],
        }


async def test_a_failover_sends_the_same_speech_without_speaking_again(
    tmp_path: Path, fake: FakeReplicate, fal: FakeFal, openai_fake: FakeOpenAI
) -> None:
    fal.script("submit", 500, {"detail": "Internal Server Error"})
    async with open_api(all_settings(tmp_path / "data", fake, fal, openai_fake)) as api:
        key = await live_key(api, credits=10_000)
        body = {"image_url": data_uri(png(360, 640), "image/png"), "text": "One more time."}
        done = await api.wait(key, (await create(api, key, ANIMATE, body))["id"])
        assert done["status"] == "completed" and done["provider"] == "replicate", done
        assert len(openai_fake.calls(SPEECH)) == 1
        [prediction] = fake.creates
        spoken = data_uri_bytes(prediction.input["audio"])
        _, picture_s, _ = await decoded_video(api, done["outputs"][0])
        assert picture_s == pytest.approx(seconds_of(spoken), abs=1 / 25)
