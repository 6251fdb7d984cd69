"""builtin/espeak through the engine contract: decoded audio that is speech, at the asked speed
and pitch, in the asked voice, per sentence with progress and cancellation, safe in parallel."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from numpy.typing import NDArray
from pydantic import ValidationError

from mediastudio.engines.builtin.espeak.engine import SPEC, EspeakEngine, rate_wpm
from mediastudio.engines.builtin.espeak.inputs import EspeakInput
from mediastudio.engines.builtin.espeak.library import LOCK, Settings, espeak
from mediastudio.engines.builtin.espeak.voices import catalogue
from mediastudio.engines.contract import InvalidInput, JobCancelled
from tests.engines.recorder import Recorder

ENGINE = EspeakEngine()
PANGRAM = "The quick brown fox jumps over the lazy dog."
FIVE = "One apple fell. Two birds sang. Three cats slept. Four dogs ran. Five eels swam."
FRAME_S = 0.02


def speak(
    tmp_path: Path, hook: Callable[[Any], None] = lambda ctx: None, **fields: Any
) -> Recorder:
    ctx = Recorder(tmp_path, SPEC, EspeakInput(**fields), hook)
    ENGINE.run(ctx)
    return ctx


def decode(path: Path) -> tuple[NDArray[np.float32], int, str]:
    """Mono float samples at the file's own rate, the rate, and the codec name."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate, codec = stream.rate, stream.codec_context.name
        chunks = [frame.to_ndarray().astype(np.float32) for frame in container.decode(stream)]
    samples = np.concatenate([c.reshape(c.shape[0], -1) for c in chunks], axis=1)
    if codec == "pcm_s16le":
        samples = samples / 32768.0
    return samples.mean(axis=0), rate, codec


def frame_rms(samples: NDArray[np.float32], rate: int) -> NDArray[np.float64]:
    size = int(rate * FRAME_S)
    usable = samples[: len(samples) // size * size].astype(np.float64)
    return np.sqrt(np.mean(usable.reshape(-1, size) ** 2, axis=1))


def assert_speech(samples: NDArray[np.float32], rate: int) -> None:
    """Loud enough, and with the on/off energy pattern of syllables and pauses."""
    rms = frame_rms(samples, rate)
    assert np.sqrt(np.mean(samples.astype(np.float64) ** 2)) > 0.03  # noise floor ~1e-4
    loud = rms > 0.1 * rms.max()
    assert 0.3 < loud.mean() < 0.95  # speaking most of the time, with gaps
    assert np.count_nonzero(np.diff(loud.astype(int)) == 1) >= 3  # several separate bursts
    assert rms.std() / rms.mean() > 0.5  # energy varies like syllables, not a steady tone


def fundamental_hz(samples: NDArray[np.float32], rate: int) -> float:
    """Median autocorrelation pitch over the loud 40 ms frames (60-500 Hz)."""
    size = int(rate * 0.04)
    frames = samples[: len(samples) // size * size].reshape(-1, size).astype(np.float64)
    energy = np.sqrt(np.mean(frames**2, axis=1))
    estimates = []
    for frame in frames[energy > 0.3 * energy.max()]:
        frame = frame - frame.mean()
        corr = np.correlate(frame, frame, mode="full")[size - 1 :]
        low, high = int(rate / 500), int(rate / 60)
        estimates.append(rate / (low + int(np.argmax(corr[low:high]))))
    return float(np.median(estimates))


@pytest.mark.parametrize(
    ("fmt", "codec", "rate", "content_type"),
    [
        ("wav", "pcm_s16le", 22050, "audio/wav"),
        ("mp3", "mp3float", 22050, "audio/mpeg"),
        ("ogg", "opus", 48000, "audio/ogg"),
    ],
)
def test_each_format_decodes_to_speech_of_a_plausible_length(
    tmp_path: Path, fmt: str, codec: str, rate: int, content_type: str
) -> None:
    ctx = speak(tmp_path, text=PANGRAM, output_format=fmt)
    (output,) = ctx.outputs
    samples, decoded_rate, decoded_codec = decode(output.path)
    assert (decoded_codec, decoded_rate, output.content_type) == (codec, rate, content_type)
    seconds = len(samples) / decoded_rate
    assert output.duration_s is not None and abs(seconds - output.duration_s) < 0.1
    # 9 words at espeak-ng's normal 175 words per minute: about 3 s.
    assert 1.8 < seconds < 4.5
    assert_speech(samples, decoded_rate)
    assert output.extra == {"voice": "en", "language": "en"}
    assert ctx.percent == 100


def test_speed_two_is_far_shorter_than_speed_half(tmp_path: Path) -> None:
    slow = speak(tmp_path, text=PANGRAM, output_format="wav", speed=0.5).outputs[0]
    fast = speak(tmp_path, text=PANGRAM, output_format="wav", speed=2.0).outputs[0]
    assert slow.duration_s is not None and fast.duration_s is not None
    assert fast.duration_s < 0.45 * slow.duration_s
    assert (rate_wpm(0.5), rate_wpm(1.0), rate_wpm(2.0)) == (88, 175, 350)


def test_pitch_and_a_female_variant_raise_the_fundamental(tmp_path: Path) -> None:
    def f0(**fields: Any) -> float:
        ctx = speak(tmp_path, text=PANGRAM, output_format="wav", voice="en-us", **fields)
        return fundamental_hz(*decode(ctx.outputs[0].path)[:2])

    low, normal, high = f0(pitch=10), f0(), f0(pitch=90)
    assert low < normal < high and high > 1.3 * low
    female = speak(tmp_path, text=PANGRAM, output_format="wav", voice="en-us+f3")
    assert fundamental_hz(*decode(female.outputs[0].path)[:2]) > 1.4 * normal


def test_progress_is_reported_per_sentence(tmp_path: Path) -> None:
    ctx = speak(tmp_path, text=FIVE, output_format="wav")
    steps = [r for r in ctx.reports if r < 1.0]
    assert len(steps) == 5 and steps == sorted(steps) and ctx.reports[-1] == 1.0


def test_a_cancelled_job_stops_between_sentences_and_writes_nothing(tmp_path: Path) -> None:
    def cancel_after_two(ctx: Recorder) -> None:
        if len(ctx.reports) == 2:
            ctx.cancel("cancelled")

    validated = EspeakInput(text=FIVE, output_format="wav")
    ctx = Recorder(tmp_path, SPEC, validated, cancel_after_two)
    with pytest.raises(JobCancelled):
        ENGINE.run(ctx)
    assert len(ctx.reports) == 2 and ctx.outputs == []


def test_paragraphs_get_a_longer_pause_than_sentences(tmp_path: Path) -> None:
    joined = speak(tmp_path, text="Good morning. Good evening.", output_format="wav")
    apart = speak(tmp_path, text="Good morning.\n\nGood evening.", output_format="wav")
    assert joined.outputs[0].duration_s is not None and apart.outputs[0].duration_s is not None
    assert 0.25 < apart.outputs[0].duration_s - joined.outputs[0].duration_s < 0.5


def test_two_jobs_in_parallel_threads_each_get_their_own_voice(tmp_path: Path) -> None:
    """Two jobs alternate sentence by sentence (a barrier forces it) with different voices,
    rates and pitches; each sounds as the same job run alone. (espeak-ng is not sample-exact
    from run to run: a sentence's length varies by a few samples, so compare measures.)"""
    jobs = {
        "english": {"text": FIVE, "voice": "en-us", "speed": 1.3, "pitch": 30},
        "german": {
            "text": "Eins. Zwei Hunde. Drei Katzen. Vier Vögel. Fünf Fische.",
            "voice": "de+f3",
            "speed": 0.8,
            "pitch": 70,
        },
    }
    alone = {
        name: decode(speak(tmp_path, output_format="wav", **job).outputs[0].path)[0]
        for name, job in jobs.items()
    }
    barrier = threading.Barrier(2, timeout=20)
    results: dict[str, NDArray[np.float32]] = {}
    errors: list[BaseException] = []

    def job(name: str) -> None:
        try:
            ctx = speak(tmp_path, lambda _: barrier.wait(), output_format="wav", **jobs[name])
            results[name] = decode(ctx.outputs[0].path)[0]
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=job, args=(name,)) for name in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    for name in jobs:
        assert_speech(results[name], 22050)
        assert abs(len(results[name]) / len(alone[name]) - 1) < 0.02, name
        parallel_f0, alone_f0 = (
            fundamental_hz(results[name], 22050),
            fundamental_hz(alone[name], 22050),
        )
        assert abs(parallel_f0 / alone_f0 - 1) < 0.05, name
    assert fundamental_hz(results["german"], 22050) > 1.5 * fundamental_hz(
        results["english"], 22050
    )
    assert len(results["german"]) > 1.1 * len(results["english"])  # slower, longer words


def test_text_with_nothing_to_say_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        speak(tmp_path, text="\x00\x01\x02", output_format="wav")


def test_voice_and_language_are_checked_against_espeaks_list() -> None:
    assert EspeakInput(text="hi").voice == "en"  # espeak-ng's preferred English voice
    assert EspeakInput(text="hi", language="en-US").voice == "en-us"
    assert EspeakInput(text="hi", language="en-AU").voice == "en"  # falls back to its language
    chosen = EspeakInput(text="hi", voice="FR")
    assert (chosen.voice, chosen.language) == ("fr", "fr-fr")
    assert EspeakInput(text="hi", voice="de+Klatt").voice == "de+klatt"
    cases = [
        ({"voice": "nobody"}, "voice"),
        ({"voice": "en-us+nobody"}, "voice"),
        ({"language": "xx-yy"}, "language"),
        ({"voice": "fr", "language": "de"}, "language"),
        ({"pitch": 101}, "pitch"),
        ({"speed": 2.5}, "speed"),
        ({"output_format": "flac"}, "output_format"),
    ]
    for fields, field in cases:
        with pytest.raises(ValidationError) as raised:
            EspeakInput(text="hi", **fields)
        assert [error["loc"] for error in raised.value.errors()] == [(field,)], fields
    with pytest.raises(ValidationError):
        EspeakInput(text="x" * 10_001)


def test_the_voice_list_is_espeaks() -> None:
    voices = {voice.id: voice for voice in ENGINE.voices(SPEC)}
    assert len(voices) > 200
    assert voices["en-us"].languages[0] == "en-us" and voices["en-us+f3"].gender == "female"
    assert {"fr", "de", "es", "cmn", "hi"} <= set(voices)
    assert catalogue().find("en-gb-x-rp") is not None


def test_a_cancel_inside_a_sentence_stops_the_library_early() -> None:
    voice = catalogue().find("en")
    assert voice is not None
    settings = Settings(voice.espeak_name, 175, 50)
    sentence = "This sentence is long enough to take several audio buffers to say out loud."
    with LOCK:
        whole = espeak().synthesize(sentence, settings, pause_after=False, abort=lambda: False)
        stopped = espeak().synthesize(sentence, settings, pause_after=False, abort=lambda: True)
        again = espeak().synthesize(sentence, settings, pause_after=False, abort=lambda: False)
    assert len(stopped) < 0.2 * len(whole)
    assert abs(len(again) / len(whole) - 1) < 0.02  # the library is fine after an abort
