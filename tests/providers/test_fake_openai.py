"""The fake OpenAI is OpenAI as far as the official ``openai`` client can tell: images (base64
and URL), speech in every format, the error shape, content refusals, and a 429 it waits out."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import av
import httpx
import openai
import pytest
from PIL import Image

from tests.providers.fake_openai import FakeOpenAI, RunningOpenAI, error, rate_limited


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with RunningOpenAI() as running:
        yield running


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=fake.key, base_url=fake.api_url, max_retries=2) as opened:
        yield opened


def test_gpt_image_1_answers_base64_images_of_the_size_and_format_asked(
    client: openai.OpenAI,
) -> None:
    answer = client.images.generate(
        model="gpt-image-1", prompt="a red kite", n=2, size="1536x1024", output_format="jpeg"
    )
    assert answer.data is not None and len(answer.data) == 2
    for item in answer.data:
        assert item.b64_json is not None and item.url is None
        with Image.open(io.BytesIO(base64.b64decode(item.b64_json))) as image:
            assert (image.format, image.size) == ("JPEG", (1536, 1024))


def test_dall_e_3_answers_a_url_by_default_and_base64_when_asked(
    client: openai.OpenAI,
) -> None:
    by_url = client.images.generate(model="dall-e-3", prompt="a fox", size="1792x1024")
    assert by_url.data is not None
    [item] = by_url.data
    assert item.url is not None and item.revised_prompt
    with Image.open(io.BytesIO(httpx.get(item.url).content)) as image:
        assert (image.format, image.size) == ("PNG", (1792, 1024))
    inline = client.images.generate(model="dall-e-3", prompt="a fox", response_format="b64_json")
    assert inline.data is not None and inline.data[0].b64_json is not None


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
        client.images.generate(model="gpt-image-1", prompt="something forbidden")
    assert refused.value.code == "moderation_blocked"
    assert refused.value.type == "image_generation_user_error"
    with pytest.raises(openai.BadRequestError) as dalle:
        client.images.generate(model="dall-e-3", prompt="forbidden things")
    assert dalle.value.code == "content_policy_violation"
    with pytest.raises(openai.BadRequestError) as voice:
        client.audio.speech.create(model="tts-1", voice="verse", input="hi")
    assert (voice.value.code, voice.value.param) == ("invalid_value", "voice")
    with (
        openai.OpenAI(api_key="sk-wrong", base_url=fake.api_url) as stranger,
        pytest.raises(openai.AuthenticationError) as denied,
    ):
        stranger.images.generate(model="gpt-image-1", prompt="a cat")
    assert denied.value.code == "invalid_api_key"


def test_the_client_waits_out_a_429_and_retries(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    path = "/v1/images/generations"
    before = len(fake.calls(path))
    fake.script(path, rate_limited(0.05))
    answer = client.images.generate(model="gpt-image-1", prompt="a cat", size="1024x1024")
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
