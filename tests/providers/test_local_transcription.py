"""A registered faster-whisper model over HTTP with a live key, against the real app, beside a
configured OpenAI (the fake on loopback): ``models pull`` registers the tiny random Whisper
(tests/engines/tiny_whisper.py), the catalog lists it available, and being registered and
loadable makes it the default transcription model, so /transcriptions and the captions of
/videos/subtitles run on it and never call OpenAI; its files parse; a cancel stops it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mediastudio.engines.media.audio import write_audio
from mediastudio.engines.media.captions import parse_srt, parse_vtt
from tests.cli.test_cli import invoke
from tests.conftest import auth, open_api
from tests.engines.tiny_whisper import tiny_whisper
from tests.providers.conftest import openai_settings
from tests.providers.fake_openai import FakeOpenAI
from tests.providers.test_generated_captions import SUBTITLES, SUBTITLES_PRICE, frames, video
from tests.providers.test_openai_transcription import files_of, upload
from tests.providers.test_replicate_jobs import balance, create, live_key

MODEL = "local/tiny-whisper"
TRANSCRIPTIONS = "/api/v1/transcriptions"
OPENAI_TRANSCRIPTIONS = "/v1/audio/transcriptions"
LOCAL_PRICE = 1


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_whisper(tmp_path_factory)


def settings_with_whisper(tmp_path: Path, fake: FakeOpenAI, tiny: Path) -> Any:
    """The built-in tools, OpenAI on the fake, and the tiny Whisper pulled with the CLI."""
    code, out = invoke(tmp_path / "data", "models", "pull", str(tiny))
    assert code == 0, out
    return openai_settings(tmp_path / "data", fake, disabled_engines=[], engine_modules=[])


def tone(tmp_path: Path, seconds: float, audio_format: str = "wav") -> bytes:
    t = np.arange(round(seconds * 16_000)) / 16_000
    path = tmp_path / f"tone.{audio_format}"
    sound = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    write_audio(path, sound, 16_000, audio_format)  # type: ignore[arg-type]
    return path.read_bytes()


async def test_a_pulled_whisper_is_listed_and_the_default_transcription_over_openai(
    tmp_path: Path, tiny: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(settings_with_whisper(tmp_path, openai_fake, tiny)) as api:
        key = await live_key(api, credits=100)
        listed = await api.client.get(f"/api/v1/models/{MODEL}", headers=auth(key))
        assert listed.status_code == 200, listed.text
        assert (listed.json()["type"], listed.json()["available"]) == ("transcription", True)

        file_id = await upload(api, key, tone(tmp_path, 4.5))
        job = await create(api, key, TRANSCRIPTIONS, {"audio_url": file_id})
        assert job["model"] == MODEL and job["credits_reserved"] == LOCAL_PRICE
        done = await api.wait(key, job["id"], timeout=120)
        assert done["status"] == "completed", done
        assert done["credits_charged"] == LOCAL_PRICE
        assert openai_fake.calls(OPENAI_TRANSCRIPTIONS) == []

        files = await files_of(api, done)
        assert list(files) == ["application/json", "application/x-subrip", "text/vtt"]
        transcript = json.loads(files["application/json"])
        assert transcript["duration"] == pytest.approx(4.5) and transcript["timestamps"] == "model"
        segments = transcript["segments"]
        assert segments and all(0 <= s["start"] < s["end"] <= 4.5 for s in segments)
        assert done["outputs"][0]["text"] == transcript["text"]
        assert done["outputs"][0]["language"] == transcript["language"]  # detected
        spans = [(s["start"], s["end"]) for s in segments]
        srt, vtt = parse_srt(files["application/x-subrip"]), parse_vtt(files["text/vtt"])
        assert [(c.start, c.end) for c in srt] == [(c.start, c.end) for c in vtt] == spans

        # OpenAI is still there for whoever names it.
        named = await api.client.get("/api/v1/models/openai/whisper-1", headers=auth(key))
        assert named.json()["available"] is True


async def test_captions_are_generated_with_the_local_whisper(
    tmp_path: Path, tiny: Path, openai_fake: FakeOpenAI
) -> None:
    url = video(tmp_path / "talk.mp4", 160, 120)
    async with open_api(settings_with_whisper(tmp_path, openai_fake, tiny)) as api:
        key = await live_key(api, credits=100)
        job = await create(api, key, SUBTITLES, {"video_url": url})
        # The catalog's default transcription model, named on the job: the local one.
        assert job["input"]["transcription_model"] == MODEL
        assert job["credits_reserved"] == SUBTITLES_PRICE + LOCAL_PRICE
        done = await api.wait(key, job["id"], timeout=120)
        assert done["status"] == "completed", done
        assert openai_fake.calls(OPENAI_TRANSCRIPTIONS) == []
        [output] = done["outputs"]
        assert output["cues"] >= 1
        response = await api.client.get(output["url"])
        burned, source = frames(response.content), frames((tmp_path / "talk.mp4").read_bytes())
        assert len(burned) == len(source)
        assert any(not np.array_equal(a, b) for a, b in zip(burned, source, strict=True))
        assert await balance(api, key) == (100 - SUBTITLES_PRICE - LOCAL_PRICE, 0)


async def test_a_cancel_stops_a_long_transcription_between_segments_and_refunds(
    tmp_path: Path, tiny: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(settings_with_whisper(tmp_path, openai_fake, tiny)) as api:
        key = await live_key(api, credits=10)
        # Ten of Whisper's 30-second windows: the job is far from done after its first segment.
        file_id = await upload(api, key, tone(tmp_path, 300.0, "ogg"))
        job = await create(api, key, TRANSCRIPTIONS, {"audio_url": file_id, "model": MODEL})
        await api.wait(key, job["id"], until=lambda body: body["progress"] > 0, timeout=120)
        cancelled = await api.client.post(
            f"/api/v1/generations/{job['id']}/cancel", headers=auth(key)
        )
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        final = await api.wait(key, job["id"], timeout=120)
        assert final["status"] == "cancelled" and final["outputs"] == []
        assert await balance(api, key) == (10, 0)
