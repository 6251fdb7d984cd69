"""The ``builtin/espeak`` engine: text to speech with espeak-ng, sentence by sentence.

The text is cut into sentences (:mod:`.text`); each is spoken under the library lock with the
job's voice, rate and pitch, followed by the library's own end-of-sentence pause, and a longer
pause closes each paragraph. Progress is reported per sentence and cancellation checked
between sentences (and, inside a sentence, per 60 ms audio buffer). The joined track is
peak-normalised and encoded to MP3, WAV (at espeak-ng's 22 050 Hz) or Ogg/Opus (48 kHz).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from mediastudio.engines.builtin.espeak import text
from mediastudio.engines.builtin.espeak.inputs import EspeakInput
from mediastudio.engines.builtin.espeak.library import (
    LOCK,
    RATE_MAXIMUM,
    RATE_MINIMUM,
    RATE_NORMAL,
    Pcm,
    Settings,
    espeak,
)
from mediastudio.engines.builtin.espeak.voices import catalogue
from mediastudio.engines.contract import (
    Availability,
    Engine,
    InputFetcher,
    InvalidInput,
    ModelSpec,
    OutputFile,
    PlannedOutput,
    RunContext,
    Voice,
)
from mediastudio.engines.media.audio import file_rate, peak_normalise, write_audio
from mediastudio.engines.media.files import content_type

PARAGRAPH_PAUSE_S = 0.35  # on top of the sentence pause, at speed 1.0
SYNTHESIS_SHARE = 0.85  # of the progress bar; encoding takes the rest
SILENCE_PEAK = 1e-3  # a track whose loudest sample is under this said nothing
# The length of speech, estimated for output plans (measured on espeak-ng's voices at the normal
# rate): about 64 ms a letter, a digit as ~5 letters (numbers are read as words), a CJK character
# as ~5 (a syllable or more), plus ~0.3 s a sentence for its onset and the pause after it.
# Alphabetic text lands within about a third; numbers, acronyms and CJK text vary more.
SECONDS_PER_LETTER = 0.064
LETTERS_PER_DIGIT = 5
LETTERS_PER_WIDE_CHARACTER = 5
SECONDS_PER_SENTENCE = 0.3
ESTIMATE_TOLERANCE = 0.35  # of the estimate, plus MIN_TOLERANCE_S
MIN_TOLERANCE_S = 0.5
# espeak-ng speaks at 22.05 kHz, mono (what espeak_Initialize answers; the plan needs it before
# the library is loaded).
ESPEAK_RATE = 22_050


def _letters(sentence: str) -> int:
    """How many letters' worth of speech ``sentence`` is."""
    total = 0
    for char in sentence:
        if char.isdigit():
            total += LETTERS_PER_DIGIT
        elif char.isalnum():
            wide = unicodedata.east_asian_width(char) in ("W", "F")
            total += LETTERS_PER_WIDE_CHARACTER if wide else 1
    return total


def estimated_seconds(sentences: Sequence[text.Chunk], speed: float) -> float:
    """How long espeak-ng takes to say ``sentences`` at ``speed`` (an estimate: the real length
    depends on how the voice pronounces each word)."""
    slower = RATE_NORMAL / rate_wpm(speed)
    letters = sum(_letters(sentence.text) for sentence in sentences)
    spoken = (SECONDS_PER_LETTER * letters + SECONDS_PER_SENTENCE * len(sentences)) * slower
    paragraphs = sum(sentence.paragraph_end for sentence in sentences[:-1])
    return spoken + paragraphs * PARAGRAPH_PAUSE_S / speed


def plan_outputs(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """One track in the requested format, about as long as the voice takes to say the text."""
    assert isinstance(validated, EspeakInput)
    sentences = text.chunks(validated.text)
    if not sentences:
        raise InvalidInput("The text has nothing to say.")
    seconds = estimated_seconds(sentences, validated.speed)
    return [
        PlannedOutput(
            content_type(validated.output_format),
            duration_s=round(seconds, 3),
            extra={"voice": validated.voice, "language": validated.language},
            duration_tolerance_s=MIN_TOLERANCE_S + ESTIMATE_TOLERANCE * seconds,
            sample_rate=file_rate(validated.output_format, ESPEAK_RATE),
            channels=1,
        )
    ]


SPEC = ModelSpec(
    id="builtin/espeak",
    name="espeak-ng speech",
    type="speech",
    input_model=EspeakInput,
    credits=1,
    description=(
        "Text to speech with espeak-ng: over 100 languages and accents, formant synthesis "
        "(clear and fast, audibly robotic). Runs on the CPU, no weights, no network."
    ),
    category="speech",
    price_unit="generation",
    pool="cpu",
    timeout_s=600.0,
    output_kind="audio",
    plan=plan_outputs,
)


def rate_wpm(speed: float) -> int:
    """``speed`` 1.0 is espeak-ng's normal 175 words per minute; 0.5-2.0 stays in its range."""
    return int(min(RATE_MAXIMUM, max(RATE_MINIMUM, round(RATE_NORMAL * speed))))


class EspeakEngine(Engine):
    name = "espeak"

    def models(self) -> Sequence[ModelSpec]:
        return [SPEC]

    def availability(self, model: ModelSpec) -> Availability:
        try:
            catalogue()
        except Exception as exc:  # the wheel's library or data missing or broken
            return Availability.missing(f"espeak-ng could not be loaded: {exc}")
        return Availability.ok()

    def voices(self, model: ModelSpec) -> Sequence[Voice]:
        return [
            Voice(id=v.id, name=v.name, languages=v.languages, gender=v.gender)
            for v in catalogue().listed()
        ]

    def run(self, ctx: RunContext) -> None:
        params = ctx.input
        assert isinstance(params, EspeakInput)
        sentences = text.chunks(params.text)
        if not sentences:
            raise InvalidInput("The text has nothing to say.")
        voice = catalogue().find(params.voice or "")
        if voice is None:  # validation resolved it; a stored input may predate a data change
            raise InvalidInput(f"espeak-ng has no voice {params.voice!r}.")
        settings = Settings(voice.espeak_name, rate_wpm(params.speed), params.pitch)
        parts: list[Pcm] = []
        rate = 0
        for index, sentence in enumerate(sentences):
            ctx.check_cancelled()
            last = index == len(sentences) - 1
            with LOCK:
                library = espeak()
                rate = library.sample_rate
                parts.append(
                    library.synthesize(
                        sentence.text,
                        settings,
                        pause_after=not last,
                        abort=lambda: ctx.cancelled,
                    )
                )
            if sentence.paragraph_end and not last:
                parts.append(np.zeros(round(rate * PARAGRAPH_PAUSE_S / params.speed), np.int16))
            ctx.progress(SYNTHESIS_SHARE * (index + 1) / len(sentences))
        ctx.check_cancelled()
        samples = np.concatenate(parts).astype(np.float32) / 32768.0
        if samples.size == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK:
            raise InvalidInput("espeak-ng found nothing to pronounce in the text.")
        path = ctx.output_path(f".{params.output_format}")
        seconds = write_audio(path, peak_normalise(samples), rate, params.output_format)
        ctx.add_output(
            OutputFile(
                path,
                content_type(params.output_format),
                duration_s=round(seconds, 3),
                extra={"voice": voice.id, "language": params.language},
            )
        )
        ctx.progress(1.0)
