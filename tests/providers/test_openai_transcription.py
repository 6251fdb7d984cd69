"""Transcriptions on OpenAI, end to end through the ASGI app against the fake OpenAI: an
uploaded tone or a video's sound is sent (a video's as extracted MP3), the answer becomes a
JSON transcript and SRT / WebVTT captions that parse, charged once; provider failures and
unreadable inputs are refunded; sandbox keys never call and get the same file shapes."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from mediastudio.engines.media.audio import write_audio
from mediastudio.engines.media.captions import Cue, parse_srt, parse_vtt
from mediastudio.engines.media.video import AUDIO_RATE, VideoWriter
from mediastudio.engines.providers.openai import transcription
from tests.conftest import Api, auth, open_api
from tests.providers.conftest import openai_settings
from tests.providers.fake_openai import FakeOpenAI, error, rate_limited
from tests.providers.test_replicate_jobs import create, ledger_kinds, live_key

TRANSCRIPTIONS = "/v1/audio/transcriptions"
PATH = "/api/v1/transcriptions"


def tone(tmp_path: Path, seconds: float) -> bytes:
    t = np.arange(round(seconds * 16_000)) / 16_000
    path = tmp_path / "tone.wav"
    write_audio(path, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 16_000, "wav")
    return path.read_bytes()


def video_uri(tmp_path: Path, seconds: float, *, sound: bool = True) -> str:
    """A tiny MP4 (64x48, 10 fps) with a tone, or silent."""
    path = tmp_path / "clip.mp4"
    t = np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE
    audio = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32) if sound else None
    with VideoWriter(path, 64, 48, fps=10, audio=audio) as writer:
        for _ in range(round(seconds * 10)):
            writer.write(np.full((48, 64, 3), 90, dtype=np.uint8))
    return "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()


async def upload(api: Api, key: str, content: bytes) -> str:
    response = await api.client.post(
        "/api/v1/files", files={"file": ("talk.wav", content, "audio/wav")}, headers=auth(key)
    )
    assert response.status_code == 201, response.text
    file_id: str = response.json()["id"]
    return file_id


async def files_of(api: Api, done: dict[str, Any]) -> dict[str, str]:
    """Each output's text, by content type."""
    found = {}
    for output in done["outputs"]:
        response = await api.client.get(output["url"])
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(output["content_type"])
        found[output["content_type"]] = response.text
    return found


def spans(cues: list[Cue]) -> list[float]:
    """Every cue's start and end, in order."""
    return [time for cue in cues for time in (cue.start, cue.end)]


async def test_whisper_transcribes_an_upload_into_json_srt_and_vtt_charged_once(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        file_id = await upload(api, key, tone(tmp_path, 4.5))
        body = {"audio_url": file_id, "language": "en", "prompt": "MediaStudio"}
        job = await create(api, key, PATH, body)
        assert job["type"] == "transcription" and job["model"] == "openai/whisper-1"
        done = await api.wait(key, job["id"])
        assert done["status"] == "completed", done

        [call] = openai_fake.calls(TRANSCRIPTIONS)
        assert call.headers["authorization"] == f"Bearer {openai_fake.key}"
        assert call.body["model"] == "whisper-1"
        assert call.body["response_format"] == "verbose_json"
        assert call.body["timestamp_granularities"] == ["segment"]
        assert (call.body["language"], call.body["prompt"]) == ("en", "MediaStudio")
        assert call.body["file"]["filename"] == "audio.wav"  # a WAV goes as it is

        types = [output["content_type"] for output in done["outputs"]]
        assert types == ["application/json", "application/x-subrip", "text/vtt"]
        files = await files_of(api, done)
        transcript = json.loads(files["application/json"])
        assert transcript["duration"] == pytest.approx(4.5)
        assert transcript["timestamps"] == "model"
        assert [(s["start"], s["end"]) for s in transcript["segments"]] == [
            (0, 2),
            (2, 4),
            (4, 4.5),
        ]
        assert transcript["text"] == " ".join(s["text"] for s in transcript["segments"])
        # The generation carries the text: no download needed to read it.
        assert done["outputs"][0]["text"] == transcript["text"]
        assert done["outputs"][0]["language"] == "en"
        assert done["outputs"][0]["duration_s"] == pytest.approx(4.5)
        srt, vtt = parse_srt(files["application/x-subrip"]), parse_vtt(files["text/vtt"])
        assert spans(srt) == spans(vtt) == [0, 2, 2, 4, 4, 4.5]
        assert [cue.text for cue in srt] == [s["text"] for s in transcript["segments"]]
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [20], "capture": [-20]}


async def test_a_videos_sound_is_extracted_and_gpt_4o_times_are_spread(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        body = {
            "model": "openai/gpt-4o-mini-transcribe",
            "audio_url": video_uri(tmp_path, 3.0),
            "output_formats": ["srt", "json"],
        }
        done = await api.wait(key, (await create(api, key, PATH, body))["id"])
        assert done["status"] == "completed", done
        [call] = openai_fake.calls(TRANSCRIPTIONS)
        assert call.body["response_format"] == "json"  # gpt-4o models give text only
        assert "timestamp_granularities" not in call.body and "language" not in call.body
        assert call.body["file"]["filename"] == "audio.mp3"
        with av.open(io.BytesIO(call.body["file"]["data"])) as sent:
            assert not sent.streams.video  # the sound alone, as compact mono MP3
            assert (sent.streams.audio[0].rate, sent.streams.audio[0].channels) == (16_000, 1)

        assert [o["content_type"] for o in done["outputs"]] == [
            "application/x-subrip",
            "application/json",
        ]
        files = await files_of(api, done)
        cues = parse_srt(files["application/x-subrip"])
        # Two sentences, spread over the 3 s by their length (equal here).
        assert [cue.text for cue in cues] == ["Fake sentence number 1.", "Fake sentence number 2."]
        # (AAC's padding makes the track a few milliseconds longer than 3 s)
        assert spans(cues) == pytest.approx([0, 1.5, 1.5, 3.0], abs=0.02)
        assert json.loads(files["application/json"])["timestamps"] == "estimated"
        assert await ledger_kinds(api, key, done["id"]) == {"reserve": [10], "capture": [-10]}


async def test_gpt_transcribe_gives_text_and_languages_and_times_are_spread(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        file_id = await upload(api, key, tone(tmp_path, 3.0))
        body = {
            "model": "openai/gpt-transcribe",
            "audio_url": file_id,
            "output_formats": ["json", "vtt"],
        }
        done = await api.wait(key, (await create(api, key, PATH, body))["id"])
        assert done["status"] == "completed", done
        [call] = openai_fake.calls(TRANSCRIPTIONS)
        assert (call.body["model"], call.body["response_format"]) == ("gpt-transcribe", "json")
        assert "timestamp_granularities" not in call.body
        files = await files_of(api, done)
        transcript = json.loads(files["application/json"])
        assert transcript["timestamps"] == "estimated"
        assert transcript["language"] == "en"  # its first detected language: none was given
        assert done["outputs"][0]["language"] == "en"
        cues = parse_vtt(files["text/vtt"])
        assert spans(cues) == pytest.approx([0, 1.5, 1.5, 3.0], abs=0.02)
        assert await ledger_kinds(api, key, done["id"]) == {"reserve": [20], "capture": [-20]}


async def test_the_default_moves_to_gpt_transcribe_when_whisper_retires(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    """whisper-1 is the default while it runs (the one with real times); on its shutdown day
    the catalog's clock retires it and a request naming no model gets gpt-transcribe."""
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        file_id = await upload(api, key, tone(tmp_path, 1.0))
        response = await api.client.post(PATH, json={"audio_url": file_id}, headers=auth(key))
        assert response.status_code == 202, response.text
        before = response.json()
        assert before["model"] == "openai/whisper-1"
        # A deprecated model's job says when it goes (RFC 8594) and what follows it.
        assert response.headers["sunset"] == "Fri, 26 Feb 2027 00:00:00 GMT"
        assert response.headers["link"] == (
            '</api/v1/models/openai/gpt-transcribe>; rel="successor-version"'
        )
        api.platform.catalog.clock = lambda: datetime(2027, 2, 26, tzinfo=UTC)
        response = await api.client.post(PATH, json={"audio_url": file_id}, headers=auth(key))
        after = response.json()
        assert after["model"] == "openai/gpt-transcribe"
        assert "sunset" not in response.headers and "link" not in response.headers
        for job in (before, after):
            assert (await api.wait(key, job["id"]))["status"] == "completed"
        assert [call.body["model"] for call in openai_fake.calls(TRANSCRIPTIONS)] == [
            "whisper-1",
            "gpt-transcribe",
        ]


async def test_whisper_gives_word_times_when_asked_and_text_only_models_refuse_them(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        file_id = await upload(api, key, tone(tmp_path, 3.0))
        body = {
            "audio_url": file_id,
            "output_formats": ["json", "srt"],
            "timestamp_granularities": ["segment", "word"],
        }
        done = await api.wait(key, (await create(api, key, PATH, body))["id"])
        assert done["status"] == "completed", done
        [call] = openai_fake.calls(TRANSCRIPTIONS)
        assert call.body["response_format"] == "verbose_json"
        assert call.body["timestamp_granularities"] == ["segment", "word"]
        files = await files_of(api, done)
        transcript = json.loads(files["application/json"])
        # The fake's scripted words (tests/providers/fake_openai.py:fake_words), as they came.
        assert transcript["words"][:4] == [
            {"word": "Fake", "start": 0, "end": 0.2},
            {"word": "sentence", "start": 0.3, "end": 0.7},
            {"word": "number", "start": 0.8, "end": 1.2},
            {"word": "1", "start": 1.3, "end": 1.7},
        ]
        assert [w["word"] for w in transcript["words"][4:]] == ["Fake", "sentence", "number", "2"]
        assert len(transcript["segments"]) == 2  # segments still come: the captions need them
        assert len(parse_srt(files["application/x-subrip"])) == 2
        assert await ledger_kinds(api, key, done["id"]) == {"reserve": [20], "capture": [-20]}

        # Without asking, no words (the JSON has no key for them).
        plain = await api.wait(key, (await create(api, key, PATH, {"audio_url": file_id}))["id"])
        assert "words" not in json.loads((await files_of(api, plain))["application/json"])

        for model in ("gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-transcribe"):
            refused = await api.client.post(
                PATH,
                json={**body, "model": f"openai/{model}"},
                headers=auth(key),
            )
            assert refused.status_code == 400, refused.text
            assert "without word times" in refused.text
        assert len(openai_fake.calls(TRANSCRIPTIONS)) == 2


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (error(500, "The server had an error.", "server_error"), "provider_error"),
        (
            error(400, "Bad audio.", "invalid_request_error", "invalid_value", "file"),
            "invalid_input",
        ),
    ],
)
async def test_a_failed_call_is_refunded(
    tmp_path: Path, openai_fake: FakeOpenAI, answer: Any, code: str
) -> None:
    openai_fake.script(TRANSCRIPTIONS, answer)
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        body = {"audio_url": await upload(api, key, tone(tmp_path, 1.0))}
        done = await api.wait(key, (await create(api, key, PATH, body))["id"])
        assert done["status"] == "failed" and done["error"]["code"] == code, done
        assert len(openai_fake.calls(TRANSCRIPTIONS)) == 1  # never repeated
        assert await ledger_kinds(api, key, done["id"]) == {"reserve": [20], "refund": [-20]}


async def test_a_429_is_waited_out(tmp_path: Path, openai_fake: FakeOpenAI) -> None:
    openai_fake.script(TRANSCRIPTIONS, rate_limited(0.05))
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        body = {"audio_url": await upload(api, key, tone(tmp_path, 1.0))}
        done = await api.wait(key, (await create(api, key, PATH, body))["id"])
        assert done["status"] == "completed", done
        assert len(openai_fake.calls(TRANSCRIPTIONS)) == 2


async def test_inputs_openai_cannot_take_fail_before_any_call_and_are_refunded(
    tmp_path: Path, openai_fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        silent = {"audio_url": video_uri(tmp_path, 1.0, sound=False)}
        done = await api.wait(key, (await create(api, key, PATH, silent))["id"])
        assert done["error"]["code"] == "invalid_input", done
        assert "no sound" in done["error"]["message"]

        monkeypatch.setattr(transcription, "MAX_FILE_BYTES", 1000)  # 25 MB, in miniature
        big = {"audio_url": await upload(api, key, tone(tmp_path, 2.0))}
        done_big = await api.wait(key, (await create(api, key, PATH, big))["id"])
        assert done_big["error"]["code"] == "invalid_input", done_big
        assert "too long to transcribe in one request" in done_big["error"]["message"]
        assert openai_fake.calls(TRANSCRIPTIONS) == []
        for job in (done, done_big):
            assert await ledger_kinds(api, key, job["id"]) == {"reserve": [20], "refund": [-20]}


async def test_a_sandbox_key_gets_the_same_files_without_calling(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await api.key(await api.account(credits=0), sandbox=True)
        body = {"audio_url": video_uri(tmp_path, 3.0), "language": "de"}
        done = await api.wait(key, (await create(api, key, PATH, body))["id"])
        assert done["status"] == "completed" and done["sandbox"], done
        assert done["model"] == "openai/whisper-1"
        files = await files_of(api, done)
        transcript = json.loads(files["application/json"])
        assert transcript["language"] == "de"
        assert transcript["duration"] == pytest.approx(3.0, abs=0.02)
        assert done["outputs"][0]["text"] == transcript["text"]
        assert spans(parse_vtt(files["text/vtt"])) == spans(
            parse_srt(files["application/x-subrip"])
        )
        assert openai_fake.calls(TRANSCRIPTIONS) == []


async def test_transcription_needs_the_audio_scope(tmp_path: Path, openai_fake: FakeOpenAI) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await api.key(await api.account(credits=100), scopes=["generate:image"])
        body = {"model": "openai/whisper-1", "input": {"audio_url": "https://example.com/a.mp3"}}
        response = await api.client.post("/api/v1/generations", json=body, headers=auth(key))
        assert response.status_code == 403, response.text
        assert response.json()["error"]["details"]["required"] == "generate:audio"
