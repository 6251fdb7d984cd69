"""The fake ElevenLabs is ElevenLabs as far as the official ``elevenlabs`` client can tell:
speech in the formats asked, voices, the error shapes, a content refusal, a 429 it waits
out, and instant voice cloning (create, read, speak with, delete)."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator

import av
import numpy as np
import pytest
from elevenlabs import VoiceSettings
from elevenlabs.client import ElevenLabs
from elevenlabs.core.api_error import ApiError
from elevenlabs.errors import UnprocessableEntityError

from tests.providers.fake_elevenlabs import (
    ALICE,
    GEORGE,
    VOICE_LIST,
    FakeElevenLabs,
    RunningElevenLabs,
    out_of_quota,
    rate_limited,
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeElevenLabs]:
    with RunningElevenLabs() as running:
        yield running


@pytest.fixture
def client(fake: FakeElevenLabs) -> ElevenLabs:
    fake.received.clear()
    return ElevenLabs(api_key=fake.key, base_url=fake.base_url)


def _decoded(data: bytes) -> tuple[str, int, float]:
    with av.open(io.BytesIO(data)) as opened:
        stream = opened.streams.audio[0]
        samples = sum(frame.samples for frame in opened.decode(stream))
        return opened.format.name.split(",")[0], stream.rate, samples / stream.rate


@pytest.mark.parametrize(
    ("output_format", "container", "rate"),
    [("mp3_44100_128", "mp3", 44100), ("wav_24000", "wav", 24000)],
)
def test_speech_is_audio_in_the_format_asked(
    client: ElevenLabs, fake: FakeElevenLabs, output_format: str, container: str, rate: int
) -> None:
    audio = b"".join(
        client.text_to_speech.convert(
            GEORGE,
            text="Welcome to the studio, everyone.",  # 32 characters: about 2.1 s
            model_id="eleven_flash_v2_5",
            output_format=output_format,  # type: ignore[arg-type]
            language_code="en",
            voice_settings=VoiceSettings(stability=0.4, speed=1.0),
        )
    )
    found, found_rate, seconds = _decoded(audio)
    assert (found, found_rate) == (container, rate) and 1.9 < seconds < 2.4
    [call] = fake.speech_calls()
    assert call.headers["xi-api-key"] == fake.key
    assert call.query["output_format"] == output_format
    assert call.body["model_id"] == "eleven_flash_v2_5" and call.body["language_code"] == "en"
    assert call.body["voice_settings"] == {"stability": 0.4, "speed": 1.0}


def test_pcm_is_raw_16_bit_samples(client: ElevenLabs) -> None:
    audio = b"".join(
        client.text_to_speech.convert(GEORGE, text="Fifteen chars!!", output_format="pcm_16000")
    )
    assert len(audio) == 16000 * 2  # one second of 16-bit mono at 16 kHz


def test_voices_list_with_labels_and_languages(client: ElevenLabs) -> None:
    listed = client.voices.get_all()
    by_id = {voice.voice_id: voice for voice in listed.voices}
    assert GEORGE in by_id and by_id[GEORGE].name == "George"
    alice = by_id[ALICE]
    assert alice.labels is not None and alice.labels["gender"] == "female"
    assert alice.verified_languages is not None
    assert {v.language for v in alice.verified_languages} == {"en", "it"}


def test_errors_are_elevenlabs_shapes(client: ElevenLabs, fake: FakeElevenLabs) -> None:
    with pytest.raises(ApiError) as unknown_voice:
        b"".join(client.text_to_speech.convert("nobody123", text="Hi."))
    assert unknown_voice.value.status_code == 404
    assert unknown_voice.value.body["detail"]["status"] == "voice_not_found"

    with pytest.raises(ApiError) as refused:
        b"".join(client.text_to_speech.convert(GEORGE, text="something forbidden"))
    assert refused.value.status_code == 400
    assert refused.value.body["detail"]["status"] == "bad_prompt"

    with pytest.raises(UnprocessableEntityError) as invalid:
        b"".join(client.text_to_speech.convert(GEORGE, text="Hi.", output_format="mp3_1_1"))
    assert invalid.value.body["detail"][0]["loc"] == ["query", "output_format"]

    with pytest.raises(ApiError) as multilingual:
        b"".join(
            client.text_to_speech.convert(
                GEORGE, text="Hi.", model_id="eleven_multilingual_v2", language_code="de"
            )
        )
    assert multilingual.value.body["detail"]["status"] == "unsupported_language"

    fake.script(out_of_quota())
    with pytest.raises(ApiError) as quota:
        b"".join(client.text_to_speech.convert(GEORGE, text="Hi."))
    assert quota.value.status_code == 401
    assert quota.value.body["detail"]["status"] == "quota_exceeded"

    wrong = ElevenLabs(api_key="sk_wrong", base_url=fake.base_url)
    with pytest.raises(ApiError) as unauthorised:
        wrong.voices.get_all()
    assert unauthorised.value.status_code == 401
    assert unauthorised.value.body["detail"]["status"] == "invalid_api_key"


def test_a_429_carries_retry_after_and_the_client_waits_it_out(
    client: ElevenLabs, fake: FakeElevenLabs
) -> None:
    # Speech streams: the official client hands a 429 back (with its retry-after) ...
    fake.script(rate_limited(1))
    with pytest.raises(ApiError) as throttled:
        b"".join(client.text_to_speech.convert(GEORGE, text="Hello there."))
    assert throttled.value.status_code == 429
    assert throttled.value.headers is not None and throttled.value.headers["retry-after"] == "1"
    assert throttled.value.body["detail"]["status"] == "too_many_concurrent_requests"
    # ... and retries its plain requests after waiting retry-after.
    fake.script(rate_limited(1), endpoint=VOICE_LIST)
    assert len(client.voices.get_all().voices) == 3
    assert len(fake.voice_calls()) == 2


def speech_wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    """A voice-like WAV (a wobbling 180 Hz tone), the kind of sample a voice is cloned from."""
    t = np.arange(round(seconds * rate)) / rate
    samples = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes((samples * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def test_instant_voice_cloning_speaks_and_deletes(client: ElevenLabs, fake: FakeElevenLabs) -> None:
    sample = speech_wav()
    created = client.voices.ivc.create(
        name="Narrator",
        files=[("one.wav", sample, "audio/wav"), ("two.wav", sample, "audio/wav")],
        description="A calm narrator",
        labels={"language": "en"},
        remove_background_noise=False,
    )
    assert created.requires_verification is False
    clone = fake.cloned[created.voice_id]
    assert [name for name, _ in clone.samples] == ["one.wav", "two.wav"]
    assert clone.samples[0][1] == sample
    assert clone.form["name"] == "Narrator" and clone.form["description"] == "A calm narrator"
    assert clone.form["remove_background_noise"] == "false"

    voice = client.voices.get(created.voice_id)
    assert voice.name == "Narrator" and voice.category == "cloned"
    assert voice.labels == {"language": "en"}
    assert created.voice_id in {v.voice_id for v in client.voices.get_all().voices}

    audio = b"".join(client.text_to_speech.convert(created.voice_id, text="Fifteen chars!!"))
    assert _decoded(audio)[0] == "mp3"
    assert fake.speech_calls()[-1].path == f"/v1/text-to-speech/{created.voice_id}"

    assert client.voices.delete(created.voice_id).status == "ok"
    assert fake.deleted == [created.voice_id]
    with pytest.raises(ApiError) as gone:
        client.voices.get(created.voice_id)
    assert gone.value.status_code == 400
    assert gone.value.body["detail"]["status"] == "voice_does_not_exist"
    with pytest.raises(ApiError) as speechless:
        b"".join(client.text_to_speech.convert(created.voice_id, text="Hi."))
    assert speechless.value.status_code == 404


def test_cloning_refuses_what_is_not_audio(client: ElevenLabs) -> None:
    with pytest.raises(ApiError) as refused:
        client.voices.ivc.create(name="Bad", files=[("x.txt", b"not audio", "text/plain")])
    assert refused.value.status_code == 400
    assert refused.value.body["detail"]["status"] == "invalid_audio"
