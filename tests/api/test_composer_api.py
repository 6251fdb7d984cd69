"""POST /api/v1/generate/music with a live key runs builtin/composer end to end."""

from __future__ import annotations

import io
from pathlib import Path

import av
import mido

from tests.conftest import auth, make_settings, open_api


async def test_live_music_job_completes_with_audio_and_midi(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", disabled_engines=[])
    async with open_api(settings) as api:
        account = await api.account(credits=10)
        key = await api.key(account)
        body = {
            "prompt": "rainy night study beats",
            "model": "builtin/composer",
            "genre": "lo-fi",
            "tempo": "slow",
            "duration": 5,
            "output_format": "wav",
            "seed": 4,
        }
        created = await api.client.post("/api/v1/generate/music", json=body, headers=auth(key))
        assert created.status_code == 202, created.text
        assert created.json()["credits_reserved"] == 2
        done = await api.wait(key, created.json()["id"], timeout=60)
        assert done["status"] == "completed", done
        assert done["credits_charged"] == 2 and done["progress"] == 100
        audio, score = done["outputs"]
        assert audio["content_type"] == "audio/wav" and abs(audio["duration_s"] - 5) < 0.1
        assert (audio["genre"], audio["bpm"], audio["seed"]) == ("lo-fi", 68.0, 4)
        response = await api.client.get(audio["url"])
        assert response.status_code == 200, response.text
        wav = response.content
        assert wav[:4] == b"RIFF", wav[:200]
        with av.open(io.BytesIO(wav)) as container:
            stream = container.streams.audio[0]
            assert (stream.rate, stream.channels) == (44_100, 2)
            samples = sum(frame.samples for frame in container.decode(stream))
        assert abs(samples / 44_100 - 5) < 0.1
        assert score["content_type"] == "audio/midi"
        midi = mido.MidiFile(file=io.BytesIO((await api.client.get(score["url"])).content))
        assert any(m.type == "note_on" for track in midi.tracks for m in track)


async def test_unknown_genre_is_refused_up_front(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", disabled_engines=[])
    async with open_api(settings) as api:
        key = await api.key(await api.account(credits=10))
        body = {"prompt": "x", "model": "builtin/composer", "genre": "polka"}
        response = await api.client.post("/api/v1/generate/music", json=body, headers=auth(key))
        assert response.status_code == 400, response.text
        assert "genre" in response.text
