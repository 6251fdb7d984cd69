"""The input of ``builtin/espeak``: the standard speech input, plus ``pitch``, checked against
espeak-ng's own voice list so an unknown voice or language is a 400 at create time."""

from __future__ import annotations

from typing import Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from mediastudio.engines.builtin.espeak.voices import (
    VoiceCatalogue,
    catalogue,
    normalise_language,
    same_language,
)
from mediastudio.engines.inputs import SpeechInput
from mediastudio.engines.schema import JsonSchema, null, one_of_words

VOICES_HINT = "GET /api/v1/voices lists them"


def known_voice(value: str | None) -> str | None:
    """The canonical id of an espeak-ng voice (``+variant`` kept), or ValueError naming it."""
    if value is None:
        return None
    voice = catalogue().find(value)
    if voice is None:
        raise ValueError(f"espeak-ng has no voice {value!r}; {VOICES_HINT}")
    return voice.id


def voice_pattern(voices: VoiceCatalogue) -> str:
    """The voice ids ``known_voice`` takes, with any variant."""
    base, variants = one_of_words(voices.voice_ids), one_of_words(voices.variants)
    return f"^(?:{base})(?:\\+(?:{variants}))?$"


def language_pattern(codes: list[str]) -> str:
    """Codes of ``codes``, or a dialect of one (``en-au`` falls back to ``en``)."""
    return f"^(?:{one_of_words(codes)})(?:-[a-z0-9]+)*$"


def voice_schema_rules() -> list[JsonSchema]:
    """``known_voice`` as a pattern on ``voice`` (the commercial's voice is checked so too)."""
    return [{"properties": {"voice": {"pattern": voice_pattern(catalogue())}}}]


class EspeakInput(SpeechInput):
    voice: str | None = Field(
        None,
        max_length=100,
        description=(
            "An espeak-ng voice id from GET /api/v1/voices (e.g. en-us, en-us+f3, fr); a voice id "
            "may end in +variant with any espeak-ng variant. Default: the language's voice"
        ),
    )
    language: str = Field(
        "en",
        min_length=2,
        max_length=32,
        description=(
            "Language code from espeak-ng's voice list (en, en-us, pt-br, …); an unknown dialect "
            "falls back to its language (en-au → en). Picks the voice when none is given"
        ),
    )
    pitch: int = Field(
        50, ge=0, le=100, description="Base pitch: 0 lowest, 50 the voice's own, 100 highest"
    )

    @classmethod
    def schema_rules(cls) -> list[JsonSchema]:
        voices = catalogue()
        known = {"properties": {"language": {"pattern": language_pattern(voices.languages)}}}
        return [*super().schema_rules(), *voice_schema_rules(), known, _VOICE_OR_LANGUAGE]

    @field_validator("voice")
    @classmethod
    def _known_voice(cls, value: str | None) -> str | None:
        return known_voice(value)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str, info: ValidationInfo) -> str:
        # Runs only for a language the request gives, after ``voice`` (declared first).
        voices = catalogue()
        if voices.resolve_language(value) is None:
            raise ValueError(f"espeak-ng does not speak {value!r}; {VOICES_HINT}")
        chosen = voices.find(info.data.get("voice") or "")
        if chosen is not None and not any(same_language(value, c) for c in chosen.languages):
            raise ValueError(
                f"voice {chosen.id!r} speaks {', '.join(chosen.languages)}, not {value!r}:"
                " leave language out or pick a voice for it"
            )
        return normalise_language(value)

    @model_validator(mode="after")
    def _voice_for_language(self) -> Self:
        voices = catalogue()
        if self.voice is None:
            default = voices.for_language(self.language)
            assert default is not None  # a given language was checked, the default is known
            self.voice = default.id
        elif "language" not in self.model_fields_set:
            chosen = voices.find(self.voice)
            assert chosen is not None  # checked above
            self.language = normalise_language(chosen.language)  # say what is really spoken
        return self


# A voice and a language given together must speak the same language (_known_language). In
# JSON Schema that is one branch per language the voices speak, too many for the tools that
# draw values from a schema; the schema asks for one of the two (each is valid alone) and its
# description says the rule.
_VOICE_OR_LANGUAGE: JsonSchema = {
    "description": "a voice or a language; both only when the voice speaks that language",
    "anyOf": [null("voice"), {"properties": {"language": False}}],
}
