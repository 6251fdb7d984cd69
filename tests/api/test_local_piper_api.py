"""A registered Piper voice over HTTP with a live key, against the real app: the catalog shows
it available, GET /voices lists its voices under its model id with their language, a speech job
completes into audio that decodes at the voice's rate, a cancel stops it between sentences and
refunds, and an unknown voice is a 400 that charges nothing."""

from __future__ import annotations

import io
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from mediastudio.engines.local import piper, registrations
from tests.conftest import Api, auth, make_settings, open_api
from tests.engines.tiny_piper import SAMPLE_RATE, build_tiny_voice, require_piper

MODEL = "local/en_US-tiny-low"


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_piper()
    return build_tiny_voice(tmp_path_factory.mktemp("piper") / "medium", "en_US-tiny-low")


@pytest.fixture
async def api(voice: Path, tmp_path: Path) -> AsyncIterator[Api]:
    settings = make_settings(tmp_path / "data")
    registrations.register(settings.data_dir, voice)
    async with open_api(settings) as opened:
        yield opened


async def live_key(api: Api, credits: int = 10) -> str:
    return await api.key(await api.account(credits=credits))


async def balance(api: Api, key: str) -> int:
    body = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    return int(body["credit_balance"])


async def create(api: Api, key: str, **fields: Any) -> dict[str, Any]:
    body = {"model": MODEL, "text": "Hello from a local voice. It runs on the CPU.", **fields}
    created = await api.client.post("/api/v1/generate/speech", json=body, headers=auth(key))
    assert created.status_code == 202, created.text
    return dict(created.json())


async def test_the_catalog_and_the_voice_list_show_the_local_voice(api: Api) -> None:
    key = await live_key(api)
    model = (await api.client.get(f"/api/v1/models/{MODEL}", headers=auth(key))).json()
    assert (model["type"], model["available"]) == ("speech", True)
    assert {"text", "voice", "speed", "language", "output_format"} <= set(
        model["input_schema"]["properties"]
    )
    listed = (await api.client.get("/api/v1/voices", headers=auth(key))).json()
    mine = [voice for voice in listed["data"] if voice["model"] == MODEL]
    assert [(v["id"], v["language"], v["engine"]) for v in mine] == [
        ("en_US-tiny-low", "en-us", "local-piper")
    ]
    only = (await api.client.get(f"/api/v1/voices?model={MODEL}", headers=auth(key))).json()
    assert [v["id"] for v in only["data"]] == ["en_US-tiny-low"]
    german = (await api.client.get("/api/v1/voices?language=de", headers=auth(key))).json()
    assert all(v["model"] != MODEL for v in german["data"])


async def test_a_speech_job_completes_into_audio_that_decodes(api: Api) -> None:
    key = await live_key(api)
    job = await create(api, key, output_format="mp3", speed=1.25)
    assert job["input"]["voice"] == "en_US-tiny-low" and job["input"]["language"] == "en-us"
    done = await api.wait(key, job["id"], timeout=60)
    assert done["status"] == "completed", done
    assert done["credits_charged"] == 1 and done["progress"] == 100
    [output] = done["outputs"]
    assert output["content_type"] == "audio/mpeg" and output["voice"] == "en_US-tiny-low"
    response = await api.client.get(output["url"])
    assert response.status_code == 200
    with av.open(io.BytesIO(response.content)) as container:
        stream = container.streams.audio[0]
        assert (container.format.name, stream.rate) == ("mp3", SAMPLE_RATE)
        samples = np.concatenate([f.to_ndarray().ravel() for f in container.decode(stream)])
    seconds = len(samples) / SAMPLE_RATE
    assert seconds > 0.5 and abs(seconds - output["duration_s"]) < 0.1
    assert await balance(api, key) == 9


@pytest.fixture
def held_until_cancelled() -> Iterator[None]:
    """Each job's second sentence waits, before it is spoken, until the job is cancelled (at
    most 30 s): the first one's progress is reported, and the test's cancel certainly lands
    between two sentences."""
    real = piper._speak
    started: set[str] = set()

    def held(voice: Any, sentence: str, speaker: Any, speed: float, ctx: Any) -> Any:
        if ctx.generation_id in started:
            pause = threading.Event()
            for _ in range(300):
                if ctx.cancelled or pause.wait(0.1):
                    break
        started.add(ctx.generation_id)
        return real(voice, sentence, speaker, speed, ctx)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(piper, "_speak", held)
        yield


@pytest.mark.embedded_only(
    reason="holds the second sentence by patching the engine in the test process; distributed, "
    "the worker process runs the job (a cancel reaching a worker mid-job: tests/e2e/"
    "test_distributed.py::test_jobs_wait_for_a_worker_of_their_pool_and_cancels_reach_it)"
)
@pytest.mark.usefixtures("held_until_cancelled")
async def test_a_cancel_stops_the_job_between_sentences_and_refunds(api: Api) -> None:
    key = await live_key(api)
    job = await create(api, key, text="One. Two. Three. Four. Five.")
    await api.wait(key, job["id"], until=lambda body: body["progress"] > 0, timeout=60)
    cancelled = await api.client.post(f"/api/v1/generations/{job['id']}/cancel", headers=auth(key))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    final = await api.wait(key, job["id"])
    assert final["status"] == "cancelled" and final["outputs"] == []
    assert await balance(api, key) == 10


async def test_an_unknown_voice_is_a_400_that_charges_nothing(api: Api) -> None:
    key = await live_key(api, credits=5)
    body = {"model": MODEL, "text": "Hi.", "voice": "nobody"}
    response = await api.client.post("/api/v1/generate/speech", json=body, headers=auth(key))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert "has no voice 'nobody'" in str(error) and f"/api/v1/voices?model={MODEL}" in str(error)
    assert await balance(api, key) == 5
