"""Dubbing with lip-sync (``POST /api/v1/videos/translate`` with ``lipsync: true``) end to end
against the fakes: OpenAI hears, translates and speaks (as in tests/providers/test_dubbing.py),
then ``sync-lipsync`` on the fake fal (or, when fal fails, the fake Replicate) is sent the
rendered dub and the dubbed track. The lip-sync model's MP4 is the job's video: decoded, it lasts
as long as the dubbed track, whose speech the fake was sent. The price quoted at create includes
30 s of lip-sync; the job is charged the seconds the step made (4 s) and the rest comes back as
one ``unused_seconds`` refund, whichever provider made them; a cancel or a restart mid-step
loses no credit and refunds nothing twice. A video past lip-sync's 30 s is a 400 at create; a
server without a fal or Replicate key answers 503 for a lip-synced dub."""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import numpy as np
import pytest

from mediastudio.engines.media.video import AUDIO_RATE
from mediastudio.settings import Settings
from tests.conftest import auth, make_settings, open_api
from tests.providers.fake_fal import FakeFal, Plan
from tests.providers.fake_openai import FakeOpenAI
from tests.providers.fake_replicate import FakeReplicate, data_uri_bytes
from tests.providers.test_dubbing import (
    BODY,
    PRICE,
    SECONDS,
    SPANISH,
    TRANSCRIPTIONS,
    TRANSLATE,
    expected_speech,
    loud,
    sound_of,
    whisper_answer,
)
from tests.providers.test_generated_captions import download, live_settings, video
from tests.providers.test_lipsync_jobs import data_uri, decoded_video, talking_video, upload
from tests.providers.test_replicate_jobs import _until, balance, create, ledger_kinds, live_key

LIPSYNC_PRICE = 87 * 30  # reserved for the step: 30 s of lip-sync
TOTAL = PRICE + LIPSYNC_PRICE  # 2671 reserved
CHARGED = PRICE + 87 * 4  # 409: the step made the video's 4 s
UNUSED = TOTAL - CHARGED  # 2262: 26 s of lip-sync not made, refunded as unused_seconds
SETTLED = {"reserve": [TOTAL], "capture": [-CHARGED], "refund": [-UNUSED]}


def all_settings(data_dir: Path, openai: FakeOpenAI, fal: FakeFal, fake: FakeReplicate) -> Settings:
    """OpenAI, fal and Replicate on their fakes; the built-in tools, no fake engines."""
    providers: dict[str, Any] = {"openai": {"api_key": openai.key, "base_url": openai.api_url}}
    for name, server, key in (("fal", fal, fal.key), ("replicate", fake, fake.token)):
        providers[name] = {
            "api_key": key,
            "base_url": server.base_url,
            "poll_interval_s": 0.02,
            "poll_max_interval_s": 0.1,
        }
    hosts = ",".join(
        f"127.0.0.1:{urlsplit(url).port}" for url in (openai.base_url, fal.base_url, fake.base_url)
    )
    return make_settings(
        data_dir,
        providers=providers,
        net_allow_hosts=hosts,
        disabled_engines=[],
        engine_modules=[],
    )


@pytest.fixture
def scripted(openai_fake: FakeOpenAI) -> FakeOpenAI:
    openai_fake.script(TRANSCRIPTIONS, whisper_answer())
    openai_fake.glossary.update(SPANISH)
    return openai_fake


@functools.cache
def too_long_video() -> bytes:
    """31 s of a tiny video with sound: past lip-sync's 30 s."""
    return talking_video(31.0, width=32, height=32, fps=2)


def wav_seconds(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / (stream.rate or 1)


async def test_a_lipsynced_dub_sends_the_dubbed_track_and_is_charged_the_seconds_made(
    tmp_path: Path, scripted: FakeOpenAI, fal: FakeFal, fake: FakeReplicate
) -> None:
    url = video(tmp_path / "talk.mp4", 160, 120)
    async with open_api(all_settings(tmp_path / "data", scripted, fal, fake)) as api:
        key = await live_key(api, credits=3000)
        job = await create(api, key, TRANSLATE, {"video_url": url, **BODY, "lipsync": True})
        assert job["credits_reserved"] == TOTAL == 2671
        assert job["input"]["lipsync_model"] == "sync-lipsync"  # the default, priced with
        done = await api.wait(key, job["id"], timeout=90)
        assert done["status"] == "completed", done
        assert (done["credits_charged"], done["credits_refunded"]) == (CHARGED, UNUSED)
        assert (CHARGED, UNUSED) == (409, 2262)
        assert await ledger_kinds(api, key, job["id"]) == SETTLED
        assert await refund_reasons(api, key, job["id"]) == ["unused_seconds"]
        assert await balance(api, key) == (3000 - CHARGED, 0)

        # fal was sent the rendered dub and the dubbed track: each segment's speech in its slot.
        [submit] = fal.submits
        assert submit.endpoint == "fal-ai/sync-lipsync/v2"
        sent = dict(submit.input)
        assert sent["sync_mode"] == "loop"
        track = data_uri_bytes(sent["audio_url"])
        assert wav_seconds(track) == pytest.approx(SECONDS, abs=0.05)
        heard = sound_of_wav(track)
        for start, end in expected_speech():
            assert loud(heard, start + 0.08, end - 0.08) > 0.05, (start, end)
        assert data_uri_bytes(sent["video_url"])[4:8] == b"ftyp"  # an MP4
        assert fake.creates == []

        video_out, srt, _ = done["outputs"]
        assert video_out["content_type"] == "video/mp4" and video_out["language"] == "es"
        assert video_out["lipsync_model"] == "sync-lipsync"
        size, picture_s, sound_s = await decoded_video(api, video_out)
        assert size == (160, 120)
        assert picture_s == pytest.approx(SECONDS, abs=0.1)
        assert sound_s == pytest.approx(SECONDS, abs=0.1)  # the dubbed track's length
        # The lip-synced video's sound is the dubbed speech (the fake's is what it was sent).
        sound = sound_of(await download(api, video_out["url"]))
        first_start, first_end = expected_speech()[0]
        assert loud(sound, first_start + 0.08, first_end - 0.08) > 0.05
        assert srt["content_type"] == "application/x-subrip"


async def refund_reasons(api: Any, key: str, generation_id: str) -> list[str]:
    """The descriptions of the job's refund rows in the ledger."""
    page = (await api.client.get("/api/v1/account/ledger?limit=100", headers=auth(key))).json()
    return [
        entry["description"]
        for entry in page["data"]
        if entry["generation_id"] == generation_id and entry["kind"] == "refund"
    ]


def sound_of_wav(data: bytes) -> np.ndarray:
    """The WAV's samples at the track's rate (the dub writes it at that rate, mono)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert stream.rate == AUDIO_RATE
        return np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])


async def test_a_fal_failure_hands_the_lipsync_step_to_replicate_settled_once(
    tmp_path: Path, scripted: FakeOpenAI, fal: FakeFal, fake: FakeReplicate
) -> None:
    fal.script("submit", 500, {"detail": "Internal Server Error"})
    url = video(tmp_path / "talk.mp4", 160, 120)
    async with open_api(all_settings(tmp_path / "data", scripted, fal, fake)) as api:
        key = await live_key(api, credits=3000)
        job = await create(api, key, TRANSLATE, {"video_url": url, **BODY, "lipsync": True})
        done = await api.wait(key, job["id"], timeout=90)
        assert done["status"] == "completed", done
        assert done["credits_charged"] == CHARGED
        assert await ledger_kinds(api, key, job["id"]) == SETTLED
        assert await refund_reasons(api, key, job["id"]) == ["unused_seconds"]
        assert await balance(api, key) == (3000 - CHARGED, 0)
        [prediction] = fake.creates
        assert prediction.model == "sync/lipsync-2"
        assert wav_seconds(data_uri_bytes(prediction.input["audio"])) == pytest.approx(
            SECONDS, abs=0.05
        )
        _, picture_s, sound_s = await decoded_video(api, done["outputs"][0])
        assert picture_s == pytest.approx(SECONDS, abs=0.1)
        assert sound_s == pytest.approx(SECONDS, abs=0.1)


async def test_a_video_too_long_to_lipsync_is_a_400_at_create_and_calls_nobody(
    tmp_path: Path, scripted: FakeOpenAI, fal: FakeFal, fake: FakeReplicate
) -> None:
    long_video = data_uri(too_long_video(), "video/mp4")
    async with open_api(all_settings(tmp_path / "data", scripted, fal, fake)) as api:
        key = await live_key(api, credits=3000)
        body = {"video_url": long_video, **BODY, "lipsync": True}
        response = await api.client.post(TRANSLATE, json=body, headers=auth(key))
        assert response.status_code == 400, response.text
        assert "at most 30 s" in response.text
        assert await balance(api, key) == (3000, 0)
        assert scripted.calls(TRANSCRIPTIONS) == [] and fal.submits == [] and fake.creates == []


async def test_an_uploaded_video_too_long_to_lipsync_fails_before_any_step_refunded(
    tmp_path: Path, scripted: FakeOpenAI, fal: FakeFal, fake: FakeReplicate
) -> None:
    async with open_api(all_settings(tmp_path / "data", scripted, fal, fake)) as api:
        key = await live_key(api, credits=3000)
        file_id = await upload(api, key, too_long_video(), "long.mp4", "video/mp4")
        job = await create(api, key, TRANSLATE, {"video_url": file_id, **BODY, "lipsync": True})
        done = await api.wait(key, job["id"], timeout=60)
        assert done["status"] == "failed" and done["error"]["code"] == "invalid_input", done
        assert "at most 30 s" in done["error"]["message"]
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [TOTAL], "refund": [-TOTAL]}
        assert await balance(api, key) == (3000, 0)
        assert scripted.calls(TRANSCRIPTIONS) == [] and fal.submits == [] and fake.creates == []


async def test_without_a_lipsync_provider_a_lipsynced_dub_is_a_503_at_create(
    tmp_path: Path, scripted: FakeOpenAI
) -> None:
    url = video(tmp_path / "talk.mp4", 160, 120)
    async with open_api(live_settings(tmp_path, scripted)) as api:
        key = await live_key(api, credits=3000)
        body = {"video_url": url, **BODY, "lipsync": True}
        response = await api.client.post(TRANSLATE, json=body, headers=auth(key))
        assert response.status_code == 503, response.text
        problem = response.json()["error"]
        assert problem["code"] == "model_unavailable" and "lipsync_model" in problem["message"]
        assert "MEDIASTUDIO_PROVIDERS__FAL__API_KEY" in problem["details"]["reason"]
        assert await balance(api, key) == (3000, 0)


async def test_a_cancel_during_the_lipsync_step_refunds_everything_once(
    tmp_path: Path, scripted: FakeOpenAI, fal: FakeFal, fake: FakeReplicate
) -> None:
    fal.plans.append(Plan(stall=True))  # the lip-sync request stays in progress
    url = video(tmp_path / "talk.mp4", 160, 120)
    async with open_api(all_settings(tmp_path / "data", scripted, fal, fake)) as api:
        key = await live_key(api, credits=3000)
        job = await create(api, key, TRANSLATE, {"video_url": url, **BODY, "lipsync": True})
        await _until(lambda: len(fal.submits) == 1, timeout=60)
        [queued] = fal.submits
        cancelled = await api.client.post(
            f"/api/v1/generations/{job['id']}/cancel", headers=auth(key)
        )
        assert cancelled.json()["status"] == "cancelled"
        await _until(lambda: fal.cancelled == [queued.id], timeout=30)
        work = api.platform.settings.data_dir / "work" / job["id"]
        await _until(lambda: not work.exists(), timeout=30)  # the runner is done with it
        done = await api.wait(key, job["id"])
        assert done["status"] == "cancelled" and done["outputs"] == []
        assert (done["credits_charged"], done["credits_refunded"]) == (0, TOTAL)
        # One refund, the cancel's: the runner's late end settles nothing again.
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [TOTAL], "refund": [-TOTAL]}
        assert await refund_reasons(api, key, job["id"]) == ["cancelled"]
        assert await balance(api, key) == (3000, 0)
        assert fake.creates == []


async def test_a_restart_during_the_lipsync_step_settles_the_rerun_once(
    tmp_path: Path, scripted: FakeOpenAI, fal: FakeFal, fake: FakeReplicate
) -> None:
    fal.plans.append(Plan(stall=True))
    scripted.script(TRANSCRIPTIONS, whisper_answer())  # the rerun hears the video again
    url = video(tmp_path / "talk.mp4", 160, 120)
    settings = all_settings(tmp_path / "data", scripted, fal, fake)
    async with open_api(settings) as api:
        key = await live_key(api, credits=3000)
        job = await create(api, key, TRANSLATE, {"video_url": url, **BODY, "lipsync": True})
        await _until(lambda: len(fal.submits) == 1, timeout=60)
    # Stopped mid-step: the job is queued again with nothing captured or refunded yet.
    assert fal.cancelled == []  # a shutdown leaves the provider's job
    async with open_api(settings) as api:
        assert await balance(api, key) == (3000 - TOTAL, TOTAL)
        done = await api.wait(key, job["id"], timeout=90)
        assert done["status"] == "completed", done
        # Steps remember nothing: the rerun sent the lip-sync again, and is settled by what
        # it made, once.
        assert len(fal.submits) == 2
        assert (done["credits_charged"], done["credits_refunded"]) == (CHARGED, UNUSED)
        assert await ledger_kinds(api, key, job["id"]) == SETTLED
        assert await refund_reasons(api, key, job["id"]) == ["unused_seconds"]
        assert await balance(api, key) == (3000 - CHARGED, 0)


async def test_the_sandbox_twin_has_the_lipsynced_shapes_and_no_ledger_rows(
    tmp_path: Path, scripted: FakeOpenAI, fal: FakeFal, fake: FakeReplicate
) -> None:
    url = video(tmp_path / "talk.mp4", 160, 120)
    async with open_api(all_settings(tmp_path / "data", scripted, fal, fake)) as api:
        key = await api.key(await api.account(credits=0), sandbox=True)
        body = {"video_url": url, "target_language": "es", "lipsync": True}
        job = await create(api, key, TRANSLATE, body)
        assert job["credits_reserved"] == 0
        done = await api.wait(key, job["id"], timeout=60)
        assert done["status"] == "completed", done
        assert (done["credits_charged"], done["credits_refunded"]) == (0, 0)
        video_out, srt, vtt = done["outputs"]
        assert video_out["content_type"] == "video/mp4"
        assert video_out["lipsync_model"] == "sync-lipsync"
        size, picture_s, sound_s = await decoded_video(api, video_out)
        assert size == (160, 120)
        assert picture_s == pytest.approx(SECONDS, abs=0.1)
        assert sound_s == pytest.approx(SECONDS, abs=0.1)
        assert (srt["content_type"], vtt["content_type"]) == ("application/x-subrip", "text/vtt")
        assert await ledger_kinds(api, key, job["id"]) == {}
        assert await balance(api, key) == (0, 0)
        assert scripted.received == [] and fal.submits == [] and fake.creates == []
