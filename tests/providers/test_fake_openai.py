"""The fake OpenAI is OpenAI as far as the official ``openai`` client can tell: images (the
current GPT image models' sizes; the shut down ones not found), speech in every format,
transcripts, the error shape, content refusals, and a 429 it waits out."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import av
import numpy as np
import openai
import pytest
from PIL import Image

from mediastudio.engines.media.captions import parse_srt, parse_vtt
from tests.providers.fake_openai import FakeOpenAI, RunningOpenAI, error, rate_limited


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with RunningOpenAI() as running:
        yield running


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=fake.key, base_url=fake.api_url, max_retries=2) as opened:
        yield opened


def test_gpt_image_1_5_answers_base64_images_of_the_size_and_format_asked(
    client: openai.OpenAI,
) -> None:
    answer = client.images.generate(
        model="gpt-image-1.5", prompt="a red kite", n=2, size="1536x1024", output_format="jpeg"
    )
    assert answer.data is not None and len(answer.data) == 2
    assert answer.usage is not None and answer.usage.output_tokens > 0
    for item in answer.data:
        assert item.b64_json is not None and item.url is None
        with Image.open(io.BytesIO(base64.b64decode(item.b64_json))) as image:
            assert (image.format, image.size) == ("JPEG", (1536, 1024))


@pytest.mark.parametrize("size", ["1360x768", "3840x2160", "512x1536", "1024x1024"])
def test_gpt_image_2_answers_any_size_within_its_limits(client: openai.OpenAI, size: str) -> None:
    answer = client.images.generate(model="gpt-image-2", prompt="a kite", size=size)
    assert answer.data is not None
    [item] = answer.data
    assert item.b64_json is not None
    with Image.open(io.BytesIO(base64.b64decode(item.b64_json))) as image:
        assert (image.format, f"{image.size[0]}x{image.size[1]}") == ("PNG", size)


@pytest.mark.parametrize(
    ("model", "size"),
    [
        ("gpt-image-2", "1000x1000"),  # not multiples of 16
        ("gpt-image-2", "1600x512"),  # wider than 3:1
        ("gpt-image-2", "3840x3840"),  # more than 3840x2160 pixels
        ("gpt-image-1.5", "1360x768"),  # three sizes only
    ],
)
def test_a_size_outside_the_models_limits_is_a_400(
    client: openai.OpenAI, model: str, size: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model=model, prompt="a kite", size=size)
    assert (refused.value.code, refused.value.param) == ("invalid_value", "size")


@pytest.mark.parametrize("model", ["gpt-image-1", "dall-e-3"])
def test_shut_down_image_models_are_not_found(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.NotFoundError) as gone:
        client.images.generate(model=model, prompt="a fox")
    assert gone.value.code == "model_not_found"


@pytest.mark.parametrize(
    ("fmt", "container"),
    [("mp3", "mp3"), ("wav", "wav"), ("opus", "ogg"), ("flac", "flac"), ("aac", "aac")],
)
def test_speech_is_real_audio_in_the_format_asked(
    client: openai.OpenAI, fmt: str, container: str
) -> None:
    answer = client.audio.speech.create(
        model="gpt-4o-mini-tts",
        voice="coral",
        input="Hello from the fake.",  # 20 characters: about 1.3 s
        response_format=fmt,  # type: ignore[arg-type]
        speed=1.0,
    )
    with av.open(io.BytesIO(answer.content)) as opened:
        assert opened.format.name.split(",")[0] == container
        stream = opened.streams.audio[0]
        seconds = sum(frame.samples for frame in opened.decode(stream)) / stream.rate
    assert 1.2 < seconds < 1.6


def test_errors_have_openais_shape(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model="gpt-image-2", prompt="something forbidden")
    assert refused.value.code == "moderation_blocked"
    assert refused.value.type == "image_generation_user_error"
    with pytest.raises(openai.BadRequestError) as voice:
        client.audio.speech.create(model="tts-1", voice="verse", input="hi")
    assert (voice.value.code, voice.value.param) == ("invalid_value", "voice")
    with (
        openai.OpenAI(api_key="sk-wrong", base_url=fake.api_url) as stranger,
        pytest.raises(openai.AuthenticationError) as denied,
    ):
        stranger.images.generate(model="gpt-image-1.5", prompt="a cat")
    assert denied.value.code == "invalid_api_key"


def test_the_client_waits_out_a_429_and_retries(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    path = "/v1/images/generations"
    before = len(fake.calls(path))
    fake.script(path, rate_limited(0.05))
    answer = client.images.generate(model="gpt-image-1.5", prompt="a cat", size="1024x1024")
    assert answer.data is not None and len(answer.data) == 1
    assert len(fake.calls(path)) - before == 2  # the 429, then the image


def test_a_5xx_is_an_internal_server_error_to_the_client(fake: FakeOpenAI) -> None:
    path = "/v1/audio/speech"
    fake.script(path, error(500, "The server had an error.", "server_error"))
    with (
        openai.OpenAI(api_key=fake.key, base_url=fake.api_url, max_retries=0) as once,
        pytest.raises(openai.InternalServerError),
    ):
        once.audio.speech.create(model="tts-1", voice="alloy", input="hi")


# --- transcriptions ----------------------------------------------------------------------------


def _tone_wav(seconds: float) -> bytes:
    """A tone of ``seconds`` as a WAV file."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=16_000, layout="mono")
        count = round(seconds * 16_000)
        samples = (np.sin(np.arange(count) * 0.1) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 16_000
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


def test_whisper_answers_timed_segments_in_verbose_json(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    answer = client.audio.transcriptions.create(
        model="whisper-1",
        file=("talk.wav", _tone_wav(4.5), "audio/wav"),
        response_format="verbose_json",
        timestamp_granularities=["segment"],
        language="en",
        prompt="MediaStudio",
    )
    assert answer.language == "english" and answer.duration == pytest.approx(4.5)
    assert answer.segments is not None
    assert [(s.start, s.end) for s in answer.segments] == [(0, 2), (2, 4), (4, 4.5)]
    assert answer.text == "".join(s.text for s in answer.segments).strip()
    [call] = fake.calls("/v1/audio/transcriptions")[-1:]
    # The client sends the form as the server reads it: a list under ``name[]``.
    assert call.body["timestamp_granularities"] == ["segment"]
    assert (call.body["language"], call.body["prompt"]) == ("en", "MediaStudio")
    assert call.body["file"]["filename"] == "talk.wav"


def test_whisper_answers_words_when_asked_as_the_client_types_them(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    answer = client.audio.transcriptions.create(
        model="whisper-1",
        file=("talk.wav", _tone_wav(3.0), "audio/wav"),
        response_format="verbose_json",
        timestamp_granularities=["segment", "word"],
    )
    assert answer.words is not None and answer.segments is not None
    spoken = ["Fake", "sentence", "number", "1", "Fake", "sentence", "number", "2"]
    assert [w.word for w in answer.words] == spoken
    # Four words on each segment's quarters, heard over 80 % of each: the quarter points lie
    # inside words and a pause of a fifth of a quarter lies between two words.
    assert [(w.start, w.end) for w in answer.words[:4]] == [
        (0, 0.2),
        (0.3, 0.7),
        (0.8, 1.2),
        (1.3, 1.7),
    ]
    assert [(w.start, w.end) for w in answer.words[4:]] == [
        (2, 2.1),
        (2.15, 2.35),
        (2.4, 2.6),
        (2.65, 2.85),
    ]
    call = fake.calls("/v1/audio/transcriptions")[-1]
    assert call.body["timestamp_granularities"] == ["segment", "word"]
    words_only = client.audio.transcriptions.create(
        model="whisper-1",
        file=("talk.wav", _tone_wav(1.0), "audio/wav"),
        response_format="verbose_json",
        timestamp_granularities=["word"],
    )
    assert words_only.segments is None and words_only.words is not None
    assert len(words_only.words) == 4


def test_transcripts_come_as_json_text_srt_and_vtt(client: openai.OpenAI) -> None:
    audio = _tone_wav(3.0)
    plain = client.audio.transcriptions.create(
        model="gpt-4o-transcribe", file=("a.wav", audio), response_format="json"
    )
    assert plain.text == "Fake sentence number 1. Fake sentence number 2."
    text = client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("a.wav", audio), response_format="text"
    )
    assert text.strip() == plain.text
    srt = client.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", audio), response_format="srt"
    )
    assert [(c.start, c.end) for c in parse_srt(srt)] == [(0, 2), (2, 3)]
    vtt = client.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", audio), response_format="vtt"
    )
    assert [c.text for c in parse_vtt(vtt)] == [
        "Fake sentence number 1.",
        "Fake sentence number 2.",
    ]


def test_gpt_transcribe_answers_text_with_its_detected_languages(client: openai.OpenAI) -> None:
    answer = client.audio.transcriptions.create(
        model="gpt-transcribe", file=("a.wav", _tone_wav(3.0)), response_format="json"
    )
    assert answer.text == "Fake sentence number 1. Fake sentence number 2."
    assert answer.languages is not None and [lang.code for lang in answer.languages] == ["en"]
    assert answer.usage is not None and answer.usage.type == "tokens"
    with pytest.raises(openai.BadRequestError) as refused:  # text only, as we read the client
        client.audio.transcriptions.create(
            model="gpt-transcribe", file=("a.wav", _tone_wav(1)), response_format="verbose_json"
        )
    assert refused.value.param == "response_format"


def test_transcription_errors_are_typed(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.transcriptions.create(
            model="gpt-4o-transcribe", file=("a.wav", _tone_wav(1)), response_format="srt"
        )
    assert refused.value.param == "response_format"
    with pytest.raises(openai.BadRequestError) as garbage:
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"not audio"))
    assert "Invalid file format" in garbage.value.message
    fake.script("/v1/audio/transcriptions", rate_limited())
    answer = client.audio.transcriptions.create(model="whisper-1", file=("a.wav", _tone_wav(1)))
    assert answer.text == "Fake sentence number 1."


# --- image edits -------------------------------------------------------------------------------


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_edit_answers_base64_images_of_the_size_and_format_asked(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    source, mask = _png(300, 200), _png(300, 200, "RGBA")
    answer = client.images.edit(
        model="gpt-image-1.5",
        image=("photo.png", source, "image/png"),
        mask=("mask.png", mask, "image/png"),
        prompt="add a red hat",
        n=2,
        size="1024x1536",
        output_format="webp",
        quality="low",
        input_fidelity="high",
    )
    assert answer.data is not None and len(answer.data) == 2
    assert answer.usage is not None and answer.size == "1024x1536"
    for item in answer.data:
        assert item.b64_json is not None
        with Image.open(io.BytesIO(base64.b64decode(item.b64_json))) as image:
            assert (image.format, image.size) == ("WEBP", (1024, 1536))
    sent = fake.calls("/v1/images/edits")[-1].body
    assert sent["image"]["data"] == source and sent["image"]["filename"] == "photo.png"
    assert sent["mask"]["data"] == mask
    assert {k: sent[k] for k in ("model", "n", "size", "quality", "input_fidelity")} == {
        "model": "gpt-image-1.5",
        "n": "2",
        "size": "1024x1536",
        "quality": "low",
        "input_fidelity": "high",
    }


def test_several_images_go_as_a_list_and_auto_follows_the_first(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    first, second = _png(400, 200), _png(64, 64)
    answer = client.images.edit(
        model="gpt-image-1.5",
        image=[("a.png", first, "image/png"), ("b.png", second, "image/png")],
        prompt="put them together",
    )
    assert answer.data is not None and answer.data[0].b64_json is not None
    with Image.open(io.BytesIO(base64.b64decode(answer.data[0].b64_json))) as image:
        assert (image.format, image.size) == ("PNG", (1536, 1024))
    sent = fake.calls("/v1/images/edits")[-1].body
    assert [item["data"] for item in sent["image"]] == [first, second]  # sent as image[]


@pytest.mark.parametrize(
    ("changes", "code", "param"),
    [
        ({"image": ("x.png", b"not an image", "image/png")}, "invalid_image_format", "image"),
        ({"mask": ("m.png", _png(10, 10, "RGBA"), "image/png")}, "invalid_image_format", "mask"),
        ({"model": "gpt-image-1"}, "invalid_value", "model"),  # shut down on 2026-10-23
        ({"size": "1792x1024"}, "invalid_value", "size"),
        ({"prompt": "something forbidden"}, "moderation_blocked", None),
    ],
)
def test_edit_errors_reach_the_client_typed(
    client: openai.OpenAI, changes: dict[str, object], code: str, param: str | None
) -> None:
    request: dict[str, object] = {
        "model": "gpt-image-1.5",
        "image": ("photo.png", _png(64, 64), "image/png"),
        "prompt": "add a hat",
        **changes,
    }
    with pytest.raises(openai.BadRequestError) as raised:
        client.images.edit(**request)  # type: ignore[arg-type]
    assert raised.value.status_code == 400
    assert raised.value.code == code and raised.value.param == param
