"""Captions generated from a video's speech, end to end through the ASGI app: the subtitles tool
given no text and auto-clip's ``add_captions`` run whisper-1 (the fake OpenAI on loopback) as a
step, burn its segments in (the MP4s decoded: caption pixels exactly while a segment is shown),
charge their own price plus the transcription's, refund it on failure, stop on a cancel, answer
503 at create without an OpenAI key, and never call OpenAI under a sandbox key."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from mediastudio.engines.media.video import AUDIO_RATE, VideoWriter
from mediastudio.engines.providers.openai.client import API_KEY_SETTING
from tests.conftest import Api, auth, make_settings, open_api
from tests.providers.conftest import openai_settings
from tests.providers.fake_openai import Answer, FakeOpenAI, error
from tests.providers.test_replicate_jobs import _until, balance, create, ledger_kinds, live_key

TRANSCRIPTIONS = "/v1/audio/transcriptions"
SUBTITLES = "/api/v1/videos/subtitles"
CLIP = "/api/v1/videos/clip"
FPS = 10
SECONDS = 4.0
# What whisper hears: two sentences with a pause between them and silence around them.
SEGMENTS = [(0.5, 1.5, " Hello there."), (2.5, 3.2, " Second line.")]
SUBTITLES_PRICE, AUTO_CLIP_PRICE, WHISPER_PRICE = 5, 10, 20


def speech_like(seconds: float) -> np.ndarray:
    """A voiced sound (a 140 Hz buzz with its harmonics) in syllables four times a second."""
    t = np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE
    voiced = np.zeros_like(t)
    for k in range(1, 9):
        voiced += np.sin(2 * np.pi * k * 140 * t) / k
    syllables = np.clip(np.sin(2 * np.pi * 4 * t), 0, 1) ** 0.5
    sound = voiced * syllables
    peak = float(np.abs(sound).max())
    return np.asarray(0.3 * sound / peak, dtype=np.float32)


def video(path: Path, width: int, height: int, *, block: bool = False) -> str:
    """``SECONDS`` of a slowly changing flat colour (a moving block on it for auto-clip, which
    reframes around motion) with speech-like sound, as a data: URI."""
    with VideoWriter(path, width, height, fps=FPS, audio=speech_like(SECONDS)) as writer:
        for index in range(round(SECONDS * FPS)):
            frame = np.full((height, width, 3), (60 + index, 90, 140), dtype=np.uint8)
            if block:
                left = (4 * index) % (width - 40)
                frame[height // 3 : height // 3 + 40, left : left + 40] = (220, 200, 40)
            writer.write(frame)
    return "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()


def whisper_answer() -> Answer:
    """whisper-1's verbose_json for the video, with :data:`SEGMENTS`."""
    segments = [
        {"id": i, "seek": 0, "start": start, "end": end, "text": text, "tokens": [1]}
        for i, (start, end, text) in enumerate(SEGMENTS)
    ]
    text = "".join(text for _, _, text in SEGMENTS).strip()
    body = {"task": "transcribe", "language": "english", "duration": SECONDS, "text": text}
    return Answer(200, {**body, "segments": segments})


def frames(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data), mode="r") as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def spoken(t: float, margin: float = 0.0) -> bool | None:
    """Whether a segment is shown at ``t`` (None within ``margin`` of a segment's edge)."""
    for start, end, _ in SEGMENTS:
        if abs(t - start) < margin or abs(t - end) < margin:
            return None
        if start <= t < end:
            return True
    return False


def white_pixels(frame: np.ndarray) -> int:
    """Caption text (white) in the bottom third; the sources have no white at all."""
    bottom = frame[frame.shape[0] * 2 // 3 :]
    return int((bottom.min(axis=2) > 200).sum())


async def download(api: Api, url: str) -> bytes:
    response = await api.client.get(url)
    assert response.status_code == 200
    return response.content


def live_settings(tmp_path: Path, fake: FakeOpenAI) -> Any:
    """The built-in tools (no fake engines) and OpenAI on the fake."""
    return openai_settings(tmp_path / "data", fake, disabled_engines=[], engine_modules=[])


async def test_subtitles_without_text_are_transcribed_burned_in_and_charged_both_prices(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    url = video(tmp_path / "talk.mp4", 160, 120)
    openai_fake.script(TRANSCRIPTIONS, whisper_answer())
    async with open_api(live_settings(tmp_path, openai_fake)) as api:
        key = await live_key(api, credits=100)
        job = await create(api, key, SUBTITLES, {"video_url": url, "language": "en"})
        assert job["credits_reserved"] == SUBTITLES_PRICE + WHISPER_PRICE
        # The catalog's default transcription model, named on the job: what it was priced with.
        assert job["input"]["transcription_model"] == "openai/whisper-1"
        done = await api.wait(key, job["id"], timeout=60)
        assert done["status"] == "completed", done
        assert done["credits_charged"] == SUBTITLES_PRICE + WHISPER_PRICE
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [25], "capture": [-25]}
        assert await balance(api, key) == (75, 0)

        [call] = openai_fake.calls(TRANSCRIPTIONS)  # one request, the video's sound as MP3
        assert (call.body["model"], call.body["language"]) == ("whisper-1", "en")
        assert call.body["response_format"] == "verbose_json"
        assert call.body["file"]["filename"] == "audio.mp3"
        with av.open(io.BytesIO(call.body["file"]["data"]), mode="r") as sent:
            assert not sent.streams.video
            samples = sum(int(f.samples) for f in sent.decode(audio=0))
            assert samples / sent.streams.audio[0].rate == pytest.approx(SECONDS, abs=0.1)

        [output] = done["outputs"]
        assert output["cues"] == 2 and (output["width"], output["height"]) == (160, 120)
        burned = frames(await download(api, output["url"]))
        source = frames(Path(tmp_path / "talk.mp4").read_bytes())
        assert len(burned) == len(source) == SECONDS * FPS
        for index, (out, original) in enumerate(zip(burned, source, strict=True)):
            shown = spoken(index / FPS)
            bottom = slice(90, 120)
            diff = float(np.abs(out[bottom].astype(int) - original[bottom].astype(int)).mean())
            assert (diff > 15) if shown else (diff < 3), (index, diff)


async def test_auto_clip_burns_each_clips_own_captions_from_one_transcription(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    url = video(tmp_path / "long.mp4", 320, 240, block=True)
    openai_fake.script(TRANSCRIPTIONS, whisper_answer())
    body = {
        "video_url": url,
        "min_duration": 1,
        "max_duration": 2,
        "aspect_ratio": "1:1",
        "max_clips": 2,
        "add_captions": True,
    }
    async with open_api(live_settings(tmp_path, openai_fake)) as api:
        key = await live_key(api, credits=100)
        job = await create(api, key, CLIP, body)
        assert job["credits_reserved"] == AUTO_CLIP_PRICE + WHISPER_PRICE
        done = await api.wait(key, job["id"], timeout=90)
        assert done["status"] == "completed", done
        assert len(openai_fake.calls(TRANSCRIPTIONS)) == 1  # the source, once for every clip
        assert len(done["outputs"]) == 2
        captioned = 0
        for output in done["outputs"]:
            start, end = output["start_s"], output["end_s"]
            expected = [s for s in SEGMENTS if s[0] < end and s[1] > start]
            assert output["cues"] == len(expected)
            for index, frame in enumerate(frames(await download(api, output["url"]))):
                # Each clip's frame i shows the source at start + i / fps, captions included.
                shown = spoken(start + index / FPS, margin=0.6 / FPS)
                if shown is None:
                    continue
                found = white_pixels(frame)
                assert (found > 10) if shown else (found == 0), (output["rank"], index, found)
                captioned += bool(shown)
        assert captioned > 0


async def test_a_failed_transcription_refunds_the_whole_price(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    url = video(tmp_path / "talk.mp4", 160, 120)
    openai_fake.script(
        TRANSCRIPTIONS, error(400, "Audio file might be corrupted.", "invalid_request_error")
    )
    async with open_api(live_settings(tmp_path, openai_fake)) as api:
        key = await live_key(api, credits=100)
        job = await create(api, key, SUBTITLES, {"video_url": url})
        done = await api.wait(key, job["id"], timeout=60)
        assert done["status"] == "failed" and done["outputs"] == []
        assert "transcribe" in done["error"]["message"]
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [25], "refund": [-25]}
        assert await balance(api, key) == (100, 0)
        # A retry runs (and is priced with) the model named on the job: both prices again.
        retried = await api.client.post(f"/api/v1/generations/{job['id']}/retry", headers=auth(key))
        assert retried.status_code == 202 and retried.json()["status"] == "queued"
        done = await api.wait(key, job["id"], timeout=60)
        assert done["status"] == "completed", done
        assert done["credits_charged"] == SUBTITLES_PRICE + WHISPER_PRICE
        assert await balance(api, key) == (75, 0)


async def test_a_cancel_reaches_the_transcription_step_in_flight(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    openai_fake.slow_s = 30.0  # whisper still listening: the cancel must not wait for it
    url = video(tmp_path / "talk.mp4", 160, 120)
    async with open_api(live_settings(tmp_path, openai_fake)) as api:
        key = await live_key(api, credits=100)
        job = await create(api, key, SUBTITLES, {"video_url": url})
        await _until(lambda: len(openai_fake.calls(TRANSCRIPTIONS)) == 1, timeout=30)
        cancelled = await api.client.post(
            f"/api/v1/generations/{job['id']}/cancel", headers=auth(key)
        )
        assert cancelled.json()["status"] == "cancelled"
        # The job's run ends (its work directory removed) with the call dropped, not after it.
        work = api.platform.settings.data_dir / "work" / job["id"]
        await _until(lambda: not work.exists(), timeout=15)
        done = await api.wait(key, job["id"])
        assert done["status"] == "cancelled" and done["outputs"] == []
        assert await balance(api, key) == (100, 0)


async def test_without_an_openai_key_generated_captions_are_refused_at_create(
    tmp_path: Path,
) -> None:
    url = video(tmp_path / "talk.mp4", 160, 120)
    settings = make_settings(tmp_path / "data", disabled_engines=[], engine_modules=[])
    async with open_api(settings) as api:
        key = await live_key(api, credits=100)
        for path, body in (
            (SUBTITLES, {"video_url": url}),
            (CLIP, {"video_url": url, "add_captions": True}),
            (SUBTITLES, {"video_url": url, "transcription_model": "openai/whisper-1"}),
        ):
            response = await api.client.post(path, json=body, headers=auth(key))
            assert response.status_code == 503, response.text
            problem = response.json()["error"]
            assert problem["code"] == "model_unavailable"
            assert API_KEY_SETTING in problem["message"], problem
        assert await balance(api, key) == (100, 0)
        # Captions given need no transcription: they work as before.
        srt = "1\n00:00:00,500 --> 00:00:01,000\nHi\n"
        job = await create(api, key, SUBTITLES, {"video_url": url, "subtitles": srt})
        assert job["credits_reserved"] == SUBTITLES_PRICE
        assert (await api.wait(key, job["id"], timeout=60))["status"] == "completed"


async def test_a_named_model_must_transcribe_and_sets_the_price(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    url = video(tmp_path / "talk.mp4", 160, 120)
    async with open_api(live_settings(tmp_path, openai_fake)) as api:
        key = await live_key(api, credits=100)
        wrong = {"video_url": url, "transcription_model": "openai/gpt-image-2"}
        response = await api.client.post(SUBTITLES, json=wrong, headers=auth(key))
        assert response.status_code == 400, response.text
        assert response.json()["error"]["details"]["fields"][0]["field"] == "transcription_model"
        mini = {"video_url": url, "transcription_model": "openai/gpt-4o-mini-transcribe"}
        job = await create(api, key, SUBTITLES, mini)
        assert job["credits_reserved"] == SUBTITLES_PRICE + 10
        done = await api.wait(key, job["id"], timeout=60)
        assert done["status"] == "completed", done
        [call] = openai_fake.calls(TRANSCRIPTIONS)
        assert call.body["model"] == "gpt-4o-mini-transcribe"
        assert done["outputs"][0]["cues"] >= 1  # its text, spread over the sound


async def test_sandbox_keys_get_the_live_shape_without_calling_openai(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    url = video(tmp_path / "talk.mp4", 160, 120)
    async with open_api(live_settings(tmp_path, openai_fake)) as api:
        key = await api.key(await api.account(credits=0), sandbox=True)
        job = await create(api, key, SUBTITLES, {"video_url": url})
        assert job["credits_reserved"] == 0
        done = await api.wait(key, job["id"], timeout=60)
        assert done["status"] == "completed", done
        [output] = done["outputs"]
        assert {"cues", "captions_drawn"} <= set(output)
        assert (output["width"], output["height"]) == (160, 120)
        assert len(frames(await download(api, output["url"]))) == SECONDS * FPS
        assert openai_fake.received == []


# Words heard over 0.4 s around each half second from 0.5 to 3.5 s: whole and half seconds (where
# the candidate clips begin and end) fall inside words; the pauses are 0.1 s wide.
WORDS = [(0.5 * k - 0.2, 0.5 * k + 0.2) for k in range(1, 8)]


def decoded_lengths(data: bytes) -> tuple[int, float]:
    """The MP4's video frame count and its sound's length in seconds."""
    with av.open(io.BytesIO(data), mode="r") as container:
        count = sum(1 for _ in container.decode(video=0))
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return count, samples / stream.rate


async def test_auto_clip_cuts_between_the_words_of_its_transcription(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    url = video(tmp_path / "long.mp4", 320, 240, block=True)
    answer = whisper_answer().body
    words = [
        {"word": f"w{k}", "start": round(start, 3), "end": round(end, 3)}
        for k, (start, end) in enumerate(WORDS)
    ]
    openai_fake.script(TRANSCRIPTIONS, Answer(200, {**answer, "words": words}))
    body = {
        "video_url": url,
        "min_duration": 1,
        "max_duration": 2,
        "aspect_ratio": "1:1",
        "max_clips": 2,
        "add_captions": True,
    }
    async with open_api(live_settings(tmp_path, openai_fake)) as api:
        key = await live_key(api, credits=100)
        job = await create(api, key, CLIP, body)
        assert job["credits_reserved"] == AUTO_CLIP_PRICE + WHISPER_PRICE  # the same price
        done = await api.wait(key, job["id"], timeout=90)
        assert done["status"] == "completed", done
        [call] = openai_fake.calls(TRANSCRIPTIONS)
        assert call.body["timestamp_granularities"] == ["segment", "word"]
        assert done["credits_charged"] == AUTO_CLIP_PRICE + WHISPER_PRICE
        moved = 0
        for output in done["outputs"]:
            start, end = output["start_s"], output["end_s"]
            for cut in (start, end):
                assert not any(a < cut < b for a, b in WORDS), (cut, output)
            # Whole and half seconds are inside words: a cut there moved to a pause's middle.
            moved += sum(round(cut * 100) % 50 == 25 for cut in (start, end))
            count, sound_s = decoded_lengths(await download(api, output["url"]))
            assert count == round((end - start) * FPS), (count, start, end)
            assert output["duration_s"] == pytest.approx(count / FPS)
            assert sound_s == pytest.approx(end - start, abs=0.05)
        assert moved > 0
