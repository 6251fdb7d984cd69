"""The input and the output plan of a registered Piper voice folder (``local/<name>``).

The input is the standard speech input (text, voice, speed, language, output_format), its
``voice`` checked against the folder's own voices so that an unknown one is a 400 when the job
is created: each registration gets its own subclass carrying its voices (:func:`input_model`).
``language`` picks the voice when none is given, as espeak-ng's does; a voice and a language
given together must agree.
"""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import BaseModel, ValidationInfo, field_validator, model_validator

from mediastudio.engines.builtin.espeak.engine import (
    ESTIMATE_TOLERANCE,
    MIN_TOLERANCE_S,
    estimated_seconds,
)
from mediastudio.engines.builtin.espeak.text import chunks
from mediastudio.engines.contract import InputFetcher, InvalidInput, OutputPlanner, PlannedOutput
from mediastudio.engines.inputs import SpeechInput
from mediastudio.engines.local.piper_voices import VoiceSet, covers, normalise_language
from mediastudio.engines.media.audio import file_rate
from mediastudio.engines.schema import JsonSchema, null, one_of_words
from mediastudio.kit.mediatypes import content_type


class PiperInput(SpeechInput):
    """The speech input of one Piper voice folder; ``voices`` is set per registration."""

    voices: ClassVar[VoiceSet]
    model_id: ClassVar[str]

    @classmethod
    def schema_rules(cls) -> list[JsonSchema]:
        """The voices and languages of the folder, and a voice and a language given together
        only when the voice speaks it (one branch per language: a folder has few)."""
        spoken: dict[str, list[str]] = {}
        for speaker in cls.voices.speakers():
            spoken.setdefault(speaker.language, []).append(speaker.id)
        for file in cls.voices.files:
            if file.default_speaker() is not None:
                spoken[file.language].append(file.name)
        known = {"properties": {"language": {"pattern": language_pattern(list(spoken))}}}
        agree = [
            {"properties": {"voice": {"pattern": words(ids)}, "language": {"pattern": pattern}}}
            for pattern, ids in ((language_pattern([code]), ids) for code, ids in spoken.items())
        ]
        rule = {
            "description": "a voice of this model; a language it speaks; both only when they agree",
            "anyOf": [null("voice"), {"properties": {"language": False}}, *agree],
        }
        voice = {"properties": {"voice": {"pattern": words(cls.voices.ids)}}}
        return [*super().schema_rules(), voice, known, rule]

    @field_validator("voice")
    @classmethod
    def _known_voice(cls, value: str | None) -> str | None:
        if value is not None and cls.voices.find(value) is None:
            raise ValueError(
                f"{cls.model_id} has no voice {value!r}; "
                f"GET /api/v1/voices?model={cls.model_id} lists them"
            )
        return value

    @field_validator("language")
    @classmethod
    def _spoken_language(cls, value: str, info: ValidationInfo) -> str:
        # Runs only for a language the request gives, after ``voice`` (declared first).
        chosen = cls.voices.find(info.data.get("voice") or "")
        if chosen is None and cls.voices.for_language(value) is None:
            spoken = sorted({speaker.language for speaker in cls.voices.speakers()})
            raise ValueError(f"{cls.model_id} speaks {', '.join(spoken)}, not {value!r}")
        if chosen is not None and not covers(value, chosen.language):
            raise ValueError(
                f"voice {chosen.id!r} speaks {chosen.language}, not {value!r}: "
                "leave language out or pick a voice for it"
            )
        return normalise_language(value)

    @model_validator(mode="after")
    def _voice_for_language(self) -> Self:
        if self.voice is None:
            given = "language" in self.model_fields_set
            default = self.voices.for_language(self.language) if given else None
            self.voice = (default or self.voices.speakers()[0]).id
        chosen = self.voices.find(self.voice)
        assert chosen is not None  # checked above
        self.voice = chosen.id  # a multi-speaker file's name: its default speaker's id
        if "language" not in self.model_fields_set:
            self.language = chosen.language  # say what is really spoken
        return self


def words(ids: list[str]) -> str:
    """A pattern for exactly one of ``ids``."""
    return f"^(?:{one_of_words(ids)})$"


def language_pattern(codes: list[str]) -> str:
    """The language codes ``covers`` matches with one of ``codes`` (lower case): a code, a
    shorter form of it (en for en-us), or a dialect of it (en-us-x-…)."""
    shorter = {"-".join(c.split("-")[:n]) for c in codes for n in range(1, c.count("-") + 1)}
    forms = [f"(?:{one_of_words(codes)})(?:-[a-z0-9]+)*"]
    if shorter:
        forms.insert(0, f"(?:{one_of_words(shorter)})")
    return f"^(?:{'|'.join(forms)})$"


def input_model(model_id: str, voices: VoiceSet) -> type[PiperInput]:
    """The input class of the registration ``model_id`` with ``voices``."""
    name = "PiperInput_" + "".join(c if c.isalnum() else "_" for c in model_id)
    attributes = {"voices": voices, "model_id": model_id, "__module__": __name__}
    return type(name, (PiperInput,), attributes)


def planner(voices: VoiceSet) -> OutputPlanner:
    """One mono track in the requested format at the voice's sample rate (Opus: 48 kHz), about
    as long as a voice takes to say the text (espeak-ng's estimate: Piper's voices speak at
    about its normal rate)."""

    def plan(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
        assert isinstance(validated, PiperInput)
        sentences = chunks(validated.text)
        if not sentences:
            raise InvalidInput("The text has nothing to say.")
        speaker = voices.find(validated.voice or "")
        if speaker is None:
            raise InvalidInput(f"No voice {validated.voice!r} in this folder any more.")
        seconds = estimated_seconds(sentences, validated.speed)
        return [
            PlannedOutput(
                content_type(validated.output_format),
                duration_s=round(seconds, 3),
                extra={"voice": speaker.id, "language": validated.language},
                duration_tolerance_s=MIN_TOLERANCE_S + ESTIMATE_TOLERANCE * seconds,
                sample_rate=file_rate(validated.output_format, speaker.sample_rate),
                channels=1,
            )
        ]

    return plan
