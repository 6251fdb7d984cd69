"""Lip-sync (``POST /api/v1/videos/lipsync``), end to end through the ASGI app against the
fakes: ``sync-lipsync`` on fal (the video and the speech sent inline, the MP4 decoded at the
speech's length with the speech as its sound) failing over to Replicate for one charge; a
cancel reaching fal's request; inputs refused before any provider is called, refunded; a
sandbox twin of the same shape calling nobody; no key, no model."""

from __future__ import annotations

import base64
import io
import math
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from mediastudio.engines.media.video import AUDIO_RATE, VideoWriter
from tests.conftest import Api, auth, open_api
from tests.providers.conftest import providers_settings
from tests.providers.fake_fal import FakeFal, Plan
from tests.providers.fake_replicate import FakeReplicate, data_uri_bytes
from tests.providers.test_replicate_jobs import _until, balance, create, ledger_kinds, live_key

LIPSYNC = "/api/v1/videos/lipsync"
FAL_ROUTE = "fal/fal-ai/sync-lipsync/v2"
REPLICATE_ROUTE = "replicate/sync/lipsync-2"
RATE = 87  # credits a second of output
PRICE = RATE * 30  # reserved: the longest job (30 s); the seconds not made come back at its end


def talking_video(seconds: float, *, width: int = 96, height: int = 64, fps: int = 12) -> bytes:
    """A short MP4 with its own (soon replaced) sound."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "face.mp4"
        tone = (0.2 * np.sin(np.arange(round(seconds * AUDIO_RATE)) / 40)).astype(np.float32)
        with VideoWriter(path, width, height, fps=fps, audio=tone) as writer:
            for index in range(round(seconds * fps)):
                writer.write(np.full((height, width, 3), 40 + index, dtype=np.uint8))
        return path.read_bytes()


def speech_wav(seconds: float, rate: int = 16_000) -> bytes:
    """A WAV "speech" of exactly ``seconds``: a rising tone, so its samples are recognisable."""
    t = np.arange(round(seconds * rate)) / rate
    samples = (0.4 * np.sin(2 * np.pi * (200 + 100 * t) * t) * 32767).astype(np.int16)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


def data_uri(content: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(content).decode()}"


async def upload(api: Api, key: str, content: bytes, name: str, media_type: str) -> str:
    files = {"file": (name, content, media_type)}
    response = await api.client.post("/api/v1/files", files=files, headers=auth(key))
    assert response.status_code == 201, response.text
    file_id: str = response.json()["id"]
    return file_id


async def decoded_video(api: Api, output: dict[str, Any]) -> tuple[tuple[int, int], float, float]:
    """The stored output decoded: its frame, its picture's length, its sound's length."""
    response = await api.client.get(output["url"])
    assert response.status_code == 200
    with av.open(io.BytesIO(response.content)) as container:
        video = container.streams.video[0]
        frames = [frame for frame in container.decode(video)]
        picture_s = len(frames) / float(video.average_rate or 1)
        size = (frames[0].width, frames[0].height)
    with av.open(io.BytesIO(response.content)) as container:
        audio = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(audio))
        sound_s = samples / (audio.rate or 1)
    return size, picture_s, sound_s


async def refund_reasons(api: Api, key: str, generation_id: str) -> list[str]:
    """The descriptions of one generation's refunds in the account's ledger."""
    page = (await api.client.get("/api/v1/account/ledger?limit=100", headers=auth(key))).json()
    return [
        entry["description"]
        for entry in page["data"]
        if entry["generation_id"] == generation_id and entry["kind"] == "refund"
    ]


@pytest.fixture
async def both(tmp_path: Path, fake: FakeReplicate, fal: FakeFal) -> AsyncIterator[Api]:
    async with open_api(providers_settings(tmp_path / "data", replicate=fake, fal=fal)) as opened:
        yield opened


async def test_an_uploaded_video_says_the_speech_on_fal(
    both: Api, fake: FakeReplicate, fal: FakeFal
) -> None:
    key = await live_key(both, credits=3000)
    video, speech = talking_video(1.0), speech_wav(2.25)
    body = {
        "video_url": await upload(both, key, video, "face.mp4", "video/mp4"),
        "audio_url": await upload(both, key, speech, "speech.wav", "audio/wav"),
    }
    job = await create(both, key, LIPSYNC, body)
    assert (job["type"], job["model"], job["credits_reserved"]) == (
        "lipsync",
        "sync-lipsync",
        PRICE,
    )
    done = await both.wait(key, job["id"])
    assert done["status"] == "completed", done
    assert done["provider"] == "fal"
    [submit] = fal.submits
    assert submit.endpoint == "fal-ai/sync-lipsync/v2"
    sent = dict(submit.input)
    assert data_uri_bytes(sent.pop("video_url")) == video  # read by us, sent inline
    assert data_uri_bytes(sent.pop("audio_url")) == speech
    assert sent == {"model": "lipsync-2", "sync_mode": "loop"}  # ours, not fal's cut_off
    [output] = done["outputs"]
    assert output["content_type"] == "video/mp4"
    size, picture_s, sound_s = await decoded_video(both, output)
    assert size == (96, 64) == (output["width"], output["height"])
    assert picture_s == pytest.approx(2.25, abs=1 / 12)  # the speech's length, looped video
    assert sound_s == pytest.approx(2.25, abs=0.05)
    assert output["duration_s"] == pytest.approx(2.25, abs=0.1)
    # Paid by the second of what was made (2.25 s: 3 s), the rest of the 30 s reserved back.
    charged = RATE * math.ceil(output["duration_s"])
    assert done["credits_charged"] == charged == RATE * 3
    assert await ledger_kinds(both, key, job["id"]) == {
        "reserve": [PRICE],
        "capture": [-charged],
        "refund": [-(PRICE - charged)],
    }
    assert await balance(both, key) == (3000 - charged, 0)
    assert await refund_reasons(both, key, job["id"]) == ["unused_seconds"]
    assert fake.creates == []


async def test_a_fal_failure_hands_the_lipsync_to_replicate_for_one_charge(
    both: Api, fake: FakeReplicate, fal: FakeFal
) -> None:
    fal.script("submit", 500, {"detail": "Internal Server Error"})
    key = await live_key(both, credits=3000)
    video, speech = talking_video(2.0), speech_wav(1.5)
    body = {
        "model": "sync-lipsync",
        "video_url": data_uri(video, "video/mp4"),
        "audio_url": data_uri(speech, "audio/wav"),
        "sync_mode": "cut_off",
        "options": {"temperature": 0.3},
    }
    done = await both.wait(key, (await create(both, key, LIPSYNC, body))["id"])
    assert done["status"] == "completed", done
    assert done["provider"] == "replicate" and done["credits_charged"] == RATE * 2  # 1.5 s
    assert [(a["route"], a["outcome"]) for a in done["attempts"]] == [
        (FAL_ROUTE, "failed_over"),
        (REPLICATE_ROUTE, "succeeded"),
    ]
    [prediction] = fake.creates
    assert prediction.model == "sync/lipsync-2"
    sent = dict(prediction.input)
    assert data_uri_bytes(sent.pop("video")) == video
    assert data_uri_bytes(sent.pop("audio")) == speech
    assert sent == {"sync_mode": "cut_off", "temperature": 0.3}
    [output] = done["outputs"]
    _, picture_s, sound_s = await decoded_video(both, output)
    assert picture_s == pytest.approx(1.5, abs=1 / 12)  # cut off at the shorter: the speech
    assert sound_s == pytest.approx(1.5, abs=0.05)
    assert await ledger_kinds(both, key, done["id"]) == {
        "reserve": [PRICE],
        "capture": [-RATE * 2],
        "refund": [-(PRICE - RATE * 2)],
    }


async def test_cancelling_a_lipsync_cancels_fals_request(both: Api, fal: FakeFal) -> None:
    fal.plans.append(Plan(stall=True))
    key = await live_key(both, credits=3000)
    body = {
        "video_url": data_uri(talking_video(1.0), "video/mp4"),
        "audio_url": data_uri(speech_wav(1.0), "audio/wav"),
    }
    job = await create(both, key, LIPSYNC, body)
    await both.wait(key, job["id"], until=lambda found: found["progress"] >= 10)
    [queued] = fal.submits
    cancelled = await both.client.post(f"/api/v1/generations/{job['id']}/cancel", headers=auth(key))
    assert cancelled.json()["status"] == "cancelled"
    await _until(lambda: fal.cancelled == [queued.id])
    assert await balance(both, key) == (3000, 0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("video_url", "https://10.0.0.1/face.mp4", "non-public address"),  # the SSRF-safe fetcher
        ("audio_url", "https://169.254.169.254/latest/speech.wav", "non-public address"),
        ("video_url", data_uri(speech_wav(1.0), "video/mp4"), "video_url is not a video"),
        ("audio_url", data_uri(talking_video(1.0), "audio/wav"), "audio_url must be a WAV"),
        ("audio_url", data_uri(speech_wav(31.0, rate=8000), "audio/wav"), "at most 30 s"),
    ],
)
async def test_an_unusable_input_fails_before_any_provider_is_called_refunded(
    both: Api, fake: FakeReplicate, fal: FakeFal, field: str, value: str, message: str
) -> None:
    key = await live_key(both, credits=3000)
    body = {
        "video_url": data_uri(talking_video(1.0), "video/mp4"),
        "audio_url": data_uri(speech_wav(1.0), "audio/wav"),
        field: value,
    }
    done = await both.wait(key, (await create(both, key, LIPSYNC, body))["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "invalid_input", done
    assert message in done["error"]["message"]
    assert fal.submits == [] and fake.creates == []
    assert await ledger_kinds(both, key, done["id"]) == {"reserve": [PRICE], "refund": [-PRICE]}
    assert await balance(both, key) == (3000, 0)


async def test_a_sync_mode_sync_does_not_know_is_a_400(both: Api) -> None:
    key = await live_key(both, credits=3000)
    body = {"video_url": "file_x", "audio_url": "file_y", "sync_mode": "stretch"}
    response = await both.client.post(LIPSYNC, json=body, headers=auth(key))
    assert response.status_code == 400, response.text


async def test_sandbox_lipsync_has_the_live_shape_and_calls_nobody(
    both: Api, fake: FakeReplicate, fal: FakeFal
) -> None:
    sandbox = await both.key(await both.account(), sandbox=True)
    body = {
        "video_url": data_uri(talking_video(1.0), "video/mp4"),
        "audio_url": data_uri(speech_wav(2.25), "audio/wav"),
    }
    done = await both.wait(sandbox, (await create(both, sandbox, LIPSYNC, body))["id"])
    assert done["status"] == "completed" and done["sandbox"] is True, done
    assert done["model"] == "sync-lipsync" and done["credits_charged"] == 0
    [output] = done["outputs"]
    size, picture_s, sound_s = await decoded_video(both, output)
    assert size == (96, 64)
    assert picture_s == pytest.approx(2.25, abs=1 / 12)
    assert sound_s == pytest.approx(2.25, abs=0.1)
    assert fake.received == [] and fal.received == []


async def test_without_a_key_lipsync_is_listed_unavailable_and_refused(tmp_path: Path) -> None:
    async with open_api(providers_settings(tmp_path / "bare")) as api:
        key = await live_key(api)
        listed = (await api.client.get("/api/v1/models?type=lipsync", headers=auth(key))).json()
        [entry] = [m for m in listed["data"] if m["id"] == "sync-lipsync"]
        assert entry["available"] is False
        assert entry["pricing"] == {"credits": RATE, "unit": "output_second", "max_seconds": 30}
        assert entry["unavailable_reason"] == (
            "no fal or Replicate API key on this server: set "
            "MEDIASTUDIO_PROVIDERS__FAL__API_KEY or MEDIASTUDIO_PROVIDERS__REPLICATE__API_KEY"
        )
        body = {"video_url": "file_x", "audio_url": "file_y"}
        refused = await api.client.post(LIPSYNC, json=body, headers=auth(key))
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "model_unavailable"
