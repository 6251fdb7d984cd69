"""The official ``openai`` client against a real MediaStudio server on loopback (base_url
``…/v1``, api_key a MediaStudio key): models, images (sandbox and live, on the fake OpenAI),
speech on espeak, transcription on the fake OpenAI, errors as the client raises them, and the
wait bound (cancelled and refunded)."""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import numpy as np
import openai
import pytest
from PIL import Image

from mediastudio.engines.media.audio import write_audio
from mediastudio.engines.media.captions import parse_srt
from mediastudio.openai_compat.schemas import ImageGenerationRequest, SpeechRequest
from mediastudio.settings import Settings
from tests.conftest import auth, make_settings
from tests.live_server import LiveApi, serve_live
from tests.providers.fake_openai import FakeOpenAI, RunningOpenAI


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with RunningOpenAI() as running:
        yield running


def with_openai(data_dir: Path, fake: FakeOpenAI, **overrides: Any) -> Settings:
    return make_settings(
        data_dir,
        providers={"openai": {"api_key": fake.key, "base_url": fake.api_url}},
        net_allow_hosts=f"127.0.0.1:{urlsplit(fake.base_url).port}",
        **overrides,
    )


@asynccontextmanager
async def server(settings: Settings) -> AsyncIterator[LiveApi]:
    async with serve_live(settings) as live:
        yield live


def client(live: LiveApi, key: str) -> openai.AsyncOpenAI:
    # No retries: each call here must be exactly one request (a retry would be a second job).
    # The server shares the test's event loop: on a loaded machine the client's default 5 s to
    # connect ran out (a budget to fail in, not a speed check).
    return openai.AsyncOpenAI(
        base_url=f"{live.base_url}/v1", api_key=key, max_retries=0, timeout=120.0
    )


async def key_of(live: LiveApi, *, sandbox: bool = False, credits: int = 1000, **kw: Any) -> str:
    account = await live.account(f"{uuid.uuid4().hex}@example.com", credits=credits)
    return await live.key(account, sandbox=sandbox, **kw)


async def generations(live: LiveApi, key: str) -> list[dict[str, Any]]:
    response = await live.client.get("/api/v1/generations", headers=auth(key))
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def ledger(live: LiveApi, key: str) -> list[tuple[str, int]]:
    page = (await live.client.get("/api/v1/account/ledger?limit=100", headers=auth(key))).json()
    jobs = [entry for entry in page["data"] if entry["generation_id"]]
    return sorted((entry["kind"], entry["reserved_delta"]) for entry in jobs)


def tone_wav(tmp_path: Path, seconds: float) -> bytes:
    t = np.arange(round(seconds * 16_000)) / 16_000
    path = tmp_path / "tone.wav"
    write_audio(path, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 16_000, "wav")
    return path.read_bytes()


async def test_models_are_listed_and_retrieved_in_openais_shape(tmp_path: Path) -> None:
    async with server(make_settings(tmp_path / "data")) as live:
        ms = client(live, await key_of(live, sandbox=True))
        page = await ms.models.list()
        ids = [model.id for model in page.data]
        assert "fake/image" in ids and "fake/speech" in ids
        assert "openai/gpt-5.4-mini" in ids  # chat models too (a sandbox key may use them all)
        assert {model.object for model in page.data} == {"model"}
        one = await ms.models.retrieve("fake/image")
        assert (one.id, one.owned_by) == ("fake/image", "fake")
        chat = await ms.models.retrieve("openai/gpt-5.4-mini")
        assert (chat.id, chat.owned_by) == ("openai/gpt-5.4-mini", "openai")
        with pytest.raises(openai.NotFoundError):
            await ms.models.retrieve("nobody/nothing")


async def test_sandbox_images_as_base64_and_as_signed_urls(tmp_path: Path) -> None:
    async with server(make_settings(tmp_path / "data")) as live:
        key = await key_of(live, sandbox=True)
        ms = client(live, key)
        answer = await ms.images.generate(
            prompt="a red bicycle", model="fake/image", n=2, size="512x384",
            response_format="b64_json",
        )  # fmt: skip
        assert answer.data is not None and len(answer.data) == 2
        for item in answer.data:
            assert item.b64_json is not None and item.url is None
            image = Image.open(io.BytesIO(base64.b64decode(item.b64_json)))
            assert (image.format, image.size) == ("PNG", (512, 384))

        by_url = await ms.images.generate(prompt="a blue bicycle", model="fake/image")
        assert by_url.data is not None and by_url.data[0].url is not None
        download = await live.client.get(by_url.data[0].url)  # signed: no key needed
        assert Image.open(io.BytesIO(download.content)).format == "PNG"
        jobs = await generations(live, key)
        assert [job["status"] for job in jobs] == ["completed", "completed"]
        assert all(job["sandbox"] and job["credits_charged"] == 0 for job in jobs)


async def test_a_live_image_on_openais_model_is_charged_once(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with server(with_openai(tmp_path / "data", openai_fake)) as live:
        key = await key_of(live, credits=300)
        ms = client(live, key)
        # OpenAI's own model name reaches the openai/ model of the catalog.
        answer = await ms.images.generate(
            prompt="a lighthouse", model="gpt-image-1.5", size="1536x1024",
            response_format="b64_json",
        )  # fmt: skip
        assert answer.data is not None
        [item] = answer.data
        assert item.b64_json is not None
        image = Image.open(io.BytesIO(base64.b64decode(item.b64_json)))
        assert (image.format, image.size) == ("PNG", (1536, 1024))
        [call] = openai_fake.calls("/v1/images/generations")
        assert call.body["model"] == "gpt-image-1.5" and call.body["size"] == "1536x1024"
        [job] = await generations(live, key)
        assert (job["model"], job["credits_charged"]) == ("openai/gpt-image-1.5", 70)
        assert await ledger(live, key) == [("capture", -70), ("reserve", 70)]

        # gpt-image-1 was shut down: its name still reaches its catalog entry, which refuses
        # it (503, the reason naming the replacement) without calling OpenAI or charging.
        with pytest.raises(openai.APIStatusError) as retired:
            await ms.with_options(max_retries=0).images.generate(
                prompt="a lighthouse", model="gpt-image-1"
            )
        assert retired.value.status_code == 503
        assert retired.value.code == "model_unavailable"
        assert "openai/gpt-image-1.5" in retired.value.message
        assert len(openai_fake.calls("/v1/images/generations")) == 1

        # gpt-image-2 renders the size asked for, not the nearest of three.
        wide = await ms.images.generate(
            prompt="a lighthouse", model="gpt-image-2", size="1360x768", response_format="b64_json"
        )
        assert wide.data is not None and wide.data[0].b64_json is not None
        picture = Image.open(io.BytesIO(base64.b64decode(wide.data[0].b64_json)))
        assert picture.size == (1360, 768)

        # A refused prompt is a 400 the client raises; the job is refunded.
        with pytest.raises(openai.BadRequestError) as refused:
            await ms.images.generate(prompt="something forbidden", model="openai/gpt-image-2")
        assert refused.value.code == "invalid_prompt"
        jobs = await generations(live, key)
        assert [job["status"] for job in jobs] == ["failed", "completed", "completed"]
        assert jobs[0]["credits_refunded"] == 70


async def test_live_speech_on_espeak_streams_the_audio(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", disabled_engines=[], engine_modules=[])
    async with server(settings) as live:
        key = await key_of(live, credits=100)
        ms = client(live, key)
        # "alloy" is OpenAI's: on espeak it means the default voice, so OpenAI code runs as is.
        speech = await ms.audio.speech.create(
            model="builtin/espeak", input="Hello from MediaStudio.", voice="alloy",
            response_format="wav",
        )  # fmt: skip
        assert speech.response.headers["content-type"].startswith("audio/")
        with av.open(io.BytesIO(speech.content)) as container:
            stream = container.streams.audio[0]
            samples = sum(frame.samples for frame in container.decode(stream))
            assert samples / stream.rate > 0.5  # about a second and a half of speech
        [job] = await generations(live, key)
        assert job["status"] == "completed" and job["credits_charged"] > 0
        assert job["input"]["text"] == "Hello from MediaStudio."


async def test_transcriptions_on_the_fake_openai_in_every_format(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with server(with_openai(tmp_path / "data", openai_fake)) as live:
        key = await key_of(live, credits=200)
        ms = client(live, key)
        audio = tone_wav(tmp_path, 4.5)
        verbose = await ms.audio.transcriptions.create(
            model="whisper-1", file=("talk.wav", audio, "audio/wav"),
            response_format="verbose_json", language="en", timestamp_granularities=["segment"],
        )  # fmt: skip
        assert verbose.duration == pytest.approx(4.5)
        segments = verbose.segments or []
        assert [(s.start, s.end) for s in segments] == [(0, 2), (2, 4), (4, 4.5)]
        assert verbose.text == " ".join(s.text for s in segments)
        [call] = openai_fake.calls("/v1/audio/transcriptions")
        assert call.body["model"] == "whisper-1" and call.body["language"] == "en"

        plain = await ms.audio.transcriptions.create(
            model="openai/whisper-1", file=("talk.wav", audio), response_format="json"
        )
        assert plain.text == verbose.text
        srt = await ms.audio.transcriptions.create(
            model="whisper-1", file=("talk.wav", audio), response_format="srt"
        )
        assert [cue.text for cue in parse_srt(str(srt))] == [s.text for s in segments]

        jobs = await generations(live, key)
        assert [job["credits_charged"] for job in jobs] == [20, 20, 20]
        uploads = (await live.client.get("/api/v1/files", headers=auth(key))).json()["data"]
        assert len(uploads) == 3  # each audio file is an upload, as POST /api/v1/files makes


async def test_word_timestamps_pass_through_to_the_clients_words(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with server(with_openai(tmp_path / "data", openai_fake)) as live:
        key = await key_of(live, credits=200)
        ms = client(live, key)
        audio = tone_wav(tmp_path, 2.0)
        verbose = await ms.audio.transcriptions.create(
            model="whisper-1", file=("talk.wav", audio, "audio/wav"),
            response_format="verbose_json", timestamp_granularities=["word", "segment"],
        )  # fmt: skip
        [call] = openai_fake.calls("/v1/audio/transcriptions")
        assert call.body["timestamp_granularities"] == ["segment", "word"]
        words = verbose.words or []
        assert [w.word for w in words] == ["Fake", "sentence", "number", "1"]
        assert [(w.start, w.end) for w in words] == [(0, 0.2), (0.3, 0.7), (0.8, 1.2), (1.3, 1.7)]
        segments = verbose.segments or []
        assert [(s.start, s.end) for s in segments] == [(0, 2)]

        with pytest.raises(openai.BadRequestError) as refused:
            await ms.audio.transcriptions.create(
                model="gpt-4o-transcribe", file=("talk.wav", audio, "audio/wav"),
                response_format="json", timestamp_granularities=["word"],
            )  # fmt: skip
        assert refused.value.param == "timestamp_granularities"
        assert len(openai_fake.calls("/v1/audio/transcriptions")) == 1


async def test_errors_are_openais_shape_and_raise_the_clients_exceptions(tmp_path: Path) -> None:
    async with server(make_settings(tmp_path / "data")) as live:
        with pytest.raises(openai.AuthenticationError) as bad_key:
            await client(live, "ms_live_nope").models.list()
        assert bad_key.value.code == "invalid_api_key"

        key = await key_of(live, sandbox=True)
        with pytest.raises(openai.BadRequestError) as too_many:
            await client(live, key).images.generate(prompt="x", model="fake/image", n=9)
        assert too_many.value.param == "n"
        with pytest.raises(openai.BadRequestError) as wrong_type:
            await client(live, key).images.generate(prompt="x", model="fake/speech")
        assert wrong_type.value.param == "model"

        reader = await key_of(live, scopes=["read"])
        with pytest.raises(openai.PermissionDeniedError) as scope:
            await client(live, reader).images.generate(prompt="x", model="fake/image")
        assert scope.value.code == "insufficient_scope"

        raw = await live.client.post(
            "/v1/images/generations", headers=auth(key), json={"prompt": "x", "size": "big"}
        )
        assert raw.status_code == 400
        assert raw.json() == {
            "error": {
                "message": raw.json()["error"]["message"],
                "type": "invalid_request_error",
                "param": "size",
                "code": "invalid_request",
            }
        }
        # A route that is not here: still OpenAI's shape, and the native API keeps its.
        missing = await live.client.post("/v1/embeddings", headers=auth(key), json={})
        assert missing.status_code == 404 and missing.json()["error"]["type"]
        native = await live.client.get("/api/v1/models", headers=auth("ms_live_nope"))
        assert set(native.json()["error"]) >= {"code", "message", "request_id"}


async def test_a_job_past_the_wait_bound_is_cancelled_and_refunded(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", openai_compat_wait_s=0.5)
    async with server(settings) as live:
        key = await key_of(live, credits=100)
        with pytest.raises(openai.APIStatusError) as slow:
            await client(live, key).images.generate(
                prompt="a slow one [slow:5]", model="fake/image"
            )
        assert slow.value.status_code == 504 and slow.value.code == "job_timeout"
        [job] = await generations(live, key)
        assert job["status"] == "cancelled" and job["credits_refunded"] == 5
        assert await ledger(live, key) == [("refund", -5), ("reserve", 5)]


async def test_the_request_examples_run_as_they_are(tmp_path: Path) -> None:
    """Each JSON route's example (the request models' own, which docs/api.md shows) with a
    sandbox key."""
    async with server(make_settings(tmp_path / "data", disabled_engines=[])) as live:
        key = await key_of(live, sandbox=True)
        spec = (await live.client.get("/openapi.json")).json()
        assert not [path for path in spec["paths"] if path.startswith("/v1/")]
        for path, model in (
            ("/v1/images/generations", ImageGenerationRequest),
            ("/v1/audio/speech", SpeechRequest),
        ):
            example = model.model_json_schema()["examples"][0]
            response = await live.client.post(path, json=example, headers=auth(key))
            assert response.status_code == 200, (path, response.text)


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_image_edits_in_the_sandbox_take_the_default_edit_model(tmp_path: Path) -> None:
    async with server(make_settings(tmp_path / "data")) as live:
        key = await key_of(live, sandbox=True)
        answer = await client(live, key).images.edit(
            image=("photo.png", _png(480, 320), "image/png"),
            prompt="make it snow",
            response_format="b64_json",
        )
        assert answer.data is not None
        [item] = answer.data
        assert item.b64_json is not None
        image = Image.open(io.BytesIO(base64.b64decode(item.b64_json)))
        assert (image.format, image.size) == ("PNG", (1248, 832))  # Kontext's 3:2 frame
        [job] = await generations(live, key)
        assert (job["type"], job["model"], job["sandbox"]) == ("image-edit", "flux-kontext", True)
        assert job["input"]["image_url"].startswith("file_")  # the image became an upload

        with pytest.raises(openai.BadRequestError) as unknown_field:
            await client(live, key).images.edit(  # flux-kontext takes no quality: a 400
                model="flux-kontext", image=("a.png", _png(64, 64), "image/png"), prompt="x",
                quality="high",
            )  # fmt: skip
        assert unknown_field.value.param == "quality"


async def test_a_live_edit_on_openai_sends_image_and_mask_and_is_charged_once(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with server(with_openai(tmp_path / "data", openai_fake)) as live:
        key = await key_of(live, credits=200)
        ms = client(live, key)
        source, mask = _png(300, 200), _png(300, 200, "RGBA")
        answer = await ms.images.edit(
            model="gpt-image-1.5",  # OpenAI's name reaches openai/gpt-image-1.5-edit
            image=("photo.png", source, "image/png"),
            mask=("mask.png", mask, "image/png"),
            prompt="a blue sky",
            n=2,
            size="1024x1536",
            output_format="jpeg",
            quality="low",
        )
        assert answer.data is not None and len(answer.data) == 2
        for item in answer.data:
            assert item.url is not None
            download = await live.client.get(item.url)
            image = Image.open(io.BytesIO(download.content))
            assert (image.format, image.size) == ("JPEG", (1024, 1536))
        [call] = openai_fake.calls("/v1/images/edits")
        assert call.body["image"]["data"] == source and call.body["mask"]["data"] == mask
        assert (call.body["model"], call.body["size"], call.body["n"]) == (
            "gpt-image-1.5",
            "1024x1536",
            "2",
        )
        [job] = await generations(live, key)
        assert (job["model"], job["credits_charged"]) == ("openai/gpt-image-1.5-edit", 140)
        assert await ledger(live, key) == [("capture", -140), ("reserve", 140)]

        with pytest.raises(openai.BadRequestError) as two:
            await ms.images.edit(
                model="gpt-image-1.5",
                image=[("a.png", source, "image/png"), ("b.png", source, "image/png")],
                prompt="x",
            )
        assert two.value.param == "image"
        assert len(openai_fake.calls("/v1/images/edits")) == 1
