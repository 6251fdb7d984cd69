"""Dubbing (``POST /api/v1/videos/translate``) end to end through the ASGI app, against the fake
OpenAI on loopback: whisper-1 hears scripted segments, gpt-4o-mini translates them (the fake's
glossary) in one JSON-mode message, gpt-4o-mini-tts says each one (the fake's audio lasts as
long as a voice takes to say the text). The MP4 is decoded: its sound is the dubbed track, the
speech in each segment's slot in order (one sped up to fit its slot), silence elsewhere; its
picture is the source's, packet for packet (copied, not re-encoded), unless the source's codec
cannot be copied into MP4 (a VP8 WebM: re-encoded, every frame still there); the SRT and WebVTT
are parsed. The price is the sum of the steps', charged once, refunded when a
step fails; a cancel stops the speech step in flight; a server without an OpenAI key answers 503
at create; a sandbox key gets the live shapes without calling OpenAI."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from mediastudio.engines.builtin.video_tools.dubbing import MAX_TEMPO
from mediastudio.engines.media.captions import parse_srt, parse_vtt
from mediastudio.engines.media.video import AUDIO_RATE
from mediastudio.engines.providers.openai.client import API_KEY_SETTING
from tests.conftest import Api, auth, make_settings, open_api
from tests.engines.test_video_copy import (
    decoded_frames,
    source,
    top_level_boxes,
    video_packets,
)
from tests.engines.test_video_rotation import FPS as PHONE_FPS
from tests.engines.test_video_rotation import STORED_H, STORED_W, red_corners, rotated_video
from tests.providers.conftest import openai_settings
from tests.providers.fake_elevenlabs import FakeElevenLabs
from tests.providers.fake_openai import CHARACTERS_PER_SECOND, Answer, FakeOpenAI, error
from tests.providers.test_fake_elevenlabs import speech_wav
from tests.providers.test_generated_captions import (
    download,
    frames,
    live_settings,
    speech_like,
    video,
)
from tests.providers.test_replicate_jobs import _until, balance, create, ledger_kinds, live_key

TRANSLATE = "/api/v1/videos/translate"
TRANSCRIPTIONS = "/v1/audio/transcriptions"
CHAT = "/v1/chat/completions"
SPEECH = "/v1/audio/speech"
SECONDS = 4.0  # the helper video's length (tests/providers/test_generated_captions.py)
# What whisper hears, and what the fake model translates each line into.
HEARD = [(0.3, 1.0, "Hello there."), (1.2, 2.2, "How are you?"), (2.6, 3.4, "Bye.")]
SPANISH = {
    "Hello there.": "Hola.",
    # 1.27 s to say (19 characters at 15 a second) in a 1.4 s slot.
    "How are you?": "¿Cómo estás, amigo?",
    # 1.6 s to say in a 1.4 s slot (to the video's end): sped up by 1.14, within the limit.
    "Bye.": "Adiós, hasta luego amigo",
}
PRICE = 20 + 20 + 1 + 20  # builtin/dub + whisper-1 + gpt-5.4-mini-translate + gpt-4o-mini-tts
BODY = {"target_language": "es", "source_language": "en", "speech_model": "openai/gpt-4o-mini-tts"}


def whisper_answer() -> Answer:
    segments = [
        {"id": i, "seek": 0, "start": start, "end": end, "text": f" {text}", "tokens": [1]}
        for i, (start, end, text) in enumerate(HEARD)
    ]
    text = " ".join(text for _, _, text in HEARD)
    body = {"task": "transcribe", "language": "english", "duration": SECONDS, "text": text}
    return Answer(200, {**body, "segments": segments})


def said_for(text: str) -> float:
    """How long the fake's voice takes to say ``text`` (at least half a second)."""
    return max(0.5, len(text) / CHARACTERS_PER_SECOND)


def sound_of(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        assert stream.rate == AUDIO_RATE
        pieces = [frame.to_ndarray().mean(axis=0) for frame in container.decode(stream)]
    return np.concatenate(pieces)


def loud(sound: np.ndarray, start: float, end: float) -> float:
    """The RMS level between ``start`` and ``end`` seconds."""
    part = sound[round(start * AUDIO_RATE) : round(end * AUDIO_RATE)]
    return float(np.sqrt(np.mean(part**2)))


def expected_speech() -> list[tuple[float, float]]:
    """Where each segment's dubbed speech sits: from its start, as long as the fake says it,
    sped up (at most by MAX_TEMPO) to end by the next segment's start or the video's end."""
    spans = []
    for index, (start, _, text) in enumerate(HEARD):
        slot_end = HEARD[index + 1][0] if index + 1 < len(HEARD) else SECONDS
        length = said_for(SPANISH[text])
        if length > slot_end - start:
            length = max(length / MAX_TEMPO, slot_end - start)
        spans.append((start, min(slot_end, start + length)))
    return spans


async def dubbed_job(api: Api, key: str, url: str, **extra: object) -> dict[str, object]:
    job = await create(api, key, TRANSLATE, {"video_url": url, **BODY, **extra})
    return await api.wait(key, job["id"], timeout=90)


@pytest.fixture
def scripted(openai_fake: FakeOpenAI) -> FakeOpenAI:
    openai_fake.script(TRANSCRIPTIONS, whisper_answer())
    openai_fake.glossary.update(SPANISH)
    return openai_fake


async def test_a_video_is_dubbed_in_order_and_on_time_with_captions_charged_once(
    tmp_path: Path, scripted: FakeOpenAI
) -> None:
    url = video(tmp_path / "talk.mp4", 160, 120)
    async with open_api(live_settings(tmp_path, scripted)) as api:
        key = await live_key(api, credits=100)
        job = await create(api, key, TRANSLATE, {"video_url": url, **BODY, "voice": "nova"})
        assert job["credits_reserved"] == PRICE
        listed = await api.client.get("/api/v1/models/builtin/dub", headers=auth(key))
        assert listed.json()["available"] is True
        # The step models the job was priced with are named on it.
        assert job["input"]["transcription_model"] == "openai/whisper-1"
        assert job["input"]["translation_model"] == "openai/gpt-5.4-mini-translate"
        done = await api.wait(key, job["id"], timeout=90)
        assert done["status"] == "completed", done
        assert done["credits_charged"] == PRICE
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [PRICE], "capture": [-PRICE]}
        assert await balance(api, key) == (100 - PRICE, 0)

        # One transcription, one translation message with every line, one speech per segment.
        assert len(scripted.calls(TRANSCRIPTIONS)) == 1
        [chat] = scripted.calls(CHAT)
        assert chat.body["model"] == "gpt-5.4-mini"
        assert chat.body["response_format"] == {"type": "json_object"}
        sent = json.loads(chat.body["messages"][-1]["content"])
        assert sent == {"lines": [text for _, _, text in HEARD]}
        speech = scripted.calls(SPEECH)
        # Said in parallel: every segment once, in whatever order the requests arrived.
        assert sorted(call.body["input"] for call in speech) == sorted(SPANISH.values())
        assert {call.body["voice"] for call in speech} == {"nova"}

        video_out, srt, vtt = done["outputs"]
        assert video_out["content_type"] == "video/mp4" and video_out["language"] == "es"
        assert video_out["segments"] == len(HEARD)
        sound = sound_of(await download(api, video_out["url"]))
        assert len(sound) / AUDIO_RATE == pytest.approx(SECONDS, abs=0.1)
        spans = expected_speech()
        edge = 0.08  # AAC's frames blur an edge by a few milliseconds; stay clear of them
        previous_end = 0.0
        for start, end in spans:
            if start - previous_end > 3 * edge:  # a gap wide enough to hear the silence in
                assert loud(sound, previous_end + edge, start - edge) < 0.01, (previous_end, start)
            assert loud(sound, start + edge, end - edge) > 0.05, (start, end)
            previous_end = end
        assert previous_end == SECONDS  # the last segment sped up to fill its slot exactly

        # Nothing is drawn on the picture: the source's video packets, copied as they are.
        dubbed = tmp_path / "dubbed.mp4"
        dubbed.write_bytes(await download(api, video_out["url"]))
        assert video_packets(dubbed) == video_packets(tmp_path / "talk.mp4")
        assert len(decoded_frames(dubbed)) == len(decoded_frames(tmp_path / "talk.mp4"))
        boxes = top_level_boxes(dubbed.read_bytes())
        assert boxes.index(b"moov") < boxes.index(b"mdat")  # faststart

        # The translation as captions, in order, on the source's times.
        for output, parse in ((srt, parse_srt), (vtt, parse_vtt)):
            cues = parse((await download(api, output["url"])).decode())
            assert [c.text for c in cues] == [SPANISH[t] for _, _, t in HEARD]
            assert [(c.start, c.end) for c in cues] == [(s, e) for s, e, _ in HEARD]
        assert (srt["content_type"], vtt["content_type"]) == ("application/x-subrip", "text/vtt")


async def test_a_failed_speech_step_refunds_the_whole_price(
    tmp_path: Path, scripted: FakeOpenAI
) -> None:
    scripted.script(SPEECH, error(500, "The server had an error.", "server_error"))
    url = video(tmp_path / "talk.mp4", 160, 120)
    async with open_api(live_settings(tmp_path, scripted)) as api:
        key = await live_key(api, credits=100)
        done = await dubbed_job(api, key, url)
        assert done["status"] == "failed" and done["outputs"] == []
        # Whichever segment's request got the error (they are said in parallel) names itself.
        assert "Step 'speak-" in done["error"]["message"]
        assert await ledger_kinds(api, key, done["id"]) == {"reserve": [PRICE], "refund": [-PRICE]}
        assert await balance(api, key) == (100, 0)


async def test_a_cancel_stops_the_speech_step_in_flight(
    tmp_path: Path, scripted: FakeOpenAI
) -> None:
    # Scripted answers come at once; the speech (not scripted) is held for half a minute.
    scripted.script(CHAT, Answer(200, _translation_answer()))
    scripted.slow_s = 30.0
    url = video(tmp_path / "talk.mp4", 160, 120)
    async with open_api(live_settings(tmp_path, scripted)) as api:
        key = await live_key(api, credits=100)
        job = await create(api, key, TRANSLATE, {"video_url": url, **BODY})
        await _until(lambda: len(scripted.calls(SPEECH)) >= 1, timeout=30)
        cancelled = await api.client.post(
            f"/api/v1/generations/{job['id']}/cancel", headers=auth(key)
        )
        assert cancelled.json()["status"] == "cancelled"
        work = api.platform.settings.data_dir / "work" / job["id"]
        await _until(lambda: not work.exists(), timeout=15)
        done = await api.wait(key, job["id"])
        assert done["status"] == "cancelled" and done["outputs"] == []
        # The segments said at once (all three here) were in flight; none started after.
        assert 1 <= len(scripted.calls(SPEECH)) <= len(HEARD)
        assert await balance(api, key) == (100, 0)


def _translation_answer() -> dict[str, object]:
    content = json.dumps({"translations": [SPANISH[t] for _, _, t in HEARD]})
    return {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


async def test_without_an_openai_key_dubbing_is_refused_at_create_and_listed_unavailable(
    tmp_path: Path,
) -> None:
    url = video(tmp_path / "talk.mp4", 160, 120)
    settings = make_settings(tmp_path / "data", disabled_engines=[], engine_modules=[])
    async with open_api(settings) as api:
        key = await live_key(api, credits=100)
        body = {"video_url": url, "target_language": "es", "speech_model": "builtin/espeak"}
        response = await api.client.post(TRANSLATE, json=body, headers=auth(key))
        assert response.status_code == 503, response.text
        problem = response.json()["error"]
        assert problem["code"] == "model_unavailable"
        assert API_KEY_SETTING in problem["message"], problem
        assert await balance(api, key) == (100, 0)
        listed = await api.client.get("/api/v1/models?type=translation", headers=auth(key))
        models = {m["id"]: m for m in listed.json()["data"]}
        entry = models["openai/gpt-5.4-mini-translate"]
        assert entry["available"] is False and API_KEY_SETTING in entry["unavailable_reason"]
        # The dub itself is listed unavailable, saying which steps cannot run and why.
        listed = await api.client.get("/api/v1/models?type=dubbing", headers=auth(key))
        [dub] = listed.json()["data"]
        assert dub["id"] == "builtin/dub" and dub["available"] is False
        assert "no transcription model" in dub["unavailable_reason"]
        assert "no translation model" in dub["unavailable_reason"]
        assert API_KEY_SETTING in dub["unavailable_reason"]


async def test_sandbox_keys_get_the_live_shapes_without_calling_openai(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    url = video(tmp_path / "talk.mp4", 160, 120)
    async with open_api(live_settings(tmp_path, openai_fake)) as api:
        key = await api.key(await api.account(credits=0), sandbox=True)
        job = await create(api, key, TRANSLATE, {"video_url": url, "target_language": "es"})
        assert job["credits_reserved"] == 0
        done = await api.wait(key, job["id"], timeout=60)
        assert done["status"] == "completed", done
        video_out, srt, vtt = done["outputs"]
        assert (video_out["width"], video_out["height"]) == (160, 120)
        assert {"language", "segments"} <= set(video_out)
        assert len(sound_of(await download(api, video_out["url"]))) / AUDIO_RATE == (
            pytest.approx(SECONDS, abs=0.1)
        )
        assert parse_srt((await download(api, srt["url"])).decode())
        assert parse_vtt((await download(api, vtt["url"])).decode())
        assert openai_fake.received == []


async def test_a_cloned_voice_dubs_with_an_elevenlabs_model(
    tmp_path: Path, scripted: FakeOpenAI, elevenlabs_fake: FakeElevenLabs
) -> None:
    """The speaker's own timbre in the target language: a voice cloned at ElevenLabs (from an
    uploaded sample) says every translated segment; OpenAI hears and translates."""
    url = video(tmp_path / "talk.mp4", 160, 120)
    settings = openai_settings(
        tmp_path / "data",
        scripted,
        disabled_engines=[],
        engine_modules=[],
        providers={
            "openai": {"api_key": scripted.key, "base_url": scripted.api_url},
            "elevenlabs": {"api_key": elevenlabs_fake.key, "base_url": elevenlabs_fake.base_url},
        },
    )
    async with open_api(settings) as api:
        key = await live_key(api, credits=1000)
        uploaded = await api.client.post(
            "/api/v1/files",
            headers=auth(key),
            files={"file": ("me.wav", speech_wav(1.0), "audio/wav")},
        )
        sample = uploaded.json()["id"]
        cloned = await api.client.post(
            "/api/v1/voices",
            headers=auth(key),
            json={"name": "Me", "samples": [sample], "consent": True, "language": "en"},
        )
        assert cloned.status_code == 201, cloned.text
        voice = cloned.json()["id"]
        # An OpenAI speech model cannot say a voice cloned at ElevenLabs: refused at create.
        refused = await api.client.post(
            TRANSLATE, json={"video_url": url, **BODY, "voice": voice}, headers=auth(key)
        )
        assert refused.status_code == 400, refused.text
        body = {**BODY, "speech_model": "elevenlabs/eleven_flash_v2_5", "voice": voice}
        done = await dubbed_job(api, key, url, **body)
        assert done["status"] == "completed", done
        assert done["credits_charged"] == 20 + 20 + 1 + 20  # flash costs what gpt-4o-mini-tts does
        [(provider_voice, _)] = elevenlabs_fake.cloned.items()
        calls = elevenlabs_fake.speech_calls()
        # Segments are said four at a time: every one once, in whatever order they finished.
        assert sorted(call.body["text"] for call in calls) == sorted(
            SPANISH[t] for _, _, t in HEARD
        )
        assert {call.path for call in calls} == {f"/v1/text-to-speech/{provider_voice}"}
        assert {call.body.get("language_code") for call in calls} == {"es"}


async def test_a_translation_that_loses_a_line_fails_the_job_refunded(
    tmp_path: Path, scripted: FakeOpenAI
) -> None:
    """Nothing is guessed: two translations for three segments fail the translation step."""
    answer = _translation_answer()
    choices: Any = answer["choices"]
    choices[0]["message"]["content"] = json.dumps({"translations": ["Hola.", "Adiós."]})
    scripted.script(CHAT, Answer(200, answer))
    url = video(tmp_path / "talk.mp4", 160, 120)
    async with open_api(live_settings(tmp_path, scripted)) as api:
        key = await live_key(api, credits=100)
        done = await dubbed_job(api, key, url)
        assert done["status"] == "failed" and done["outputs"] == []
        assert "translate" in done["error"]["message"] and "2 lines" in done["error"]["message"]
        assert scripted.calls(SPEECH) == []
        assert await balance(api, key) == (100, 0)


async def test_a_video_mp4_cannot_carry_is_re_encoded_and_dubbed(
    tmp_path: Path, scripted: FakeOpenAI
) -> None:
    """A VP8 WebM (VP8 does not go in MP4): the picture re-encoded as H.264, every frame of it
    decoding, with the dubbed track as long as the video."""
    given = source(tmp_path / "talk.webm", "webm", "libvpx", audio="libopus", frames=100)
    url = "data:video/webm;base64," + base64.b64encode(given.read_bytes()).decode()
    async with open_api(live_settings(tmp_path, scripted)) as api:
        key = await live_key(api, credits=100)
        done = await dubbed_job(api, key, url)
        assert done["status"] == "completed", done
        video_out = done["outputs"][0]
        dubbed = tmp_path / "dubbed.mp4"
        dubbed.write_bytes(await download(api, video_out["url"]))
    with av.open(str(dubbed)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        seconds = float(container.duration or 0) / av.time_base
    frames = decoded_frames(dubbed)
    assert len(frames) == len(decoded_frames(given))
    assert len(frames) == 100 and seconds == pytest.approx(SECONDS, abs=0.05)
    assert len(sound_of(dubbed.read_bytes())) / AUDIO_RATE == pytest.approx(seconds, abs=0.05)
    boxes = top_level_boxes(dubbed.read_bytes())
    assert boxes.index(b"moov") < boxes.index(b"mdat")


async def test_a_phone_video_is_dubbed_upright(tmp_path: Path, scripted: FakeOpenAI) -> None:
    """A portrait phone video (stored landscape, turned by its display matrix): with captions
    burnt in, the re-encode is upright (no matrix; the captions at the bottom of the picture a
    person sees); without, the copy keeps the matrix. Both report the upright size."""
    path = rotated_video(tmp_path / "phone.mp4", -90, seconds=SECONDS, sound=speech_like(SECONDS))
    url = "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()
    async with open_api(live_settings(tmp_path, scripted)) as api:
        key = await live_key(api, credits=200)
        burnt = await dubbed_job(api, key, url, subtitles=True)
        copied = await dubbed_job(api, key, url)
        assert burnt["status"] == copied["status"] == "completed", (burnt, copied)
        files = {}
        for name, done in (("burnt", burnt), ("copied", copied)):
            outputs = done["outputs"]
            assert isinstance(outputs, list)
            output = outputs[0]
            assert (output["width"], output["height"]) == (STORED_H, STORED_W), name
            files[name] = tmp_path / f"{name}.mp4"
            files[name].write_bytes(await download(api, output["url"]))
    pictures = frames(files["burnt"].read_bytes())
    assert pictures[0].shape == (STORED_W, STORED_H, 3)  # 120 wide, 160 high
    assert all(red_corners(picture) == ["top-right"] for picture in pictures[::10])
    with av.open(str(files["burnt"])) as container:
        assert next(container.decode(video=0)).rotation == 0
    # The first line is on screen 0.3-1.0 s: white text low in the picture, none at the top.
    white = np.asarray((pictures[round(0.6 * PHONE_FPS)].astype(np.int16) > 200).all(axis=2))
    assert white[STORED_W * 3 // 4 :].sum() > 20 and white[: STORED_W // 2].sum() == 0
    assert video_packets(files["copied"]) == video_packets(path)
    with av.open(str(files["copied"])) as container:
        assert next(container.decode(video=0)).rotation == -90
