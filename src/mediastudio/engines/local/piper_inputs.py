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
        pattern = f"^(?:{one_of_words(cls.voices.ids)})$"
        known = {"anyOf": [null("voice"), {"properties": {"voice": {"pattern": pattern}}}]}
        return [*super().schema_rules(), known]

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
