"""Timed text translated by an OpenAI chat model (``POST /chat/completions``): the translation
step of a dubbing job (:mod:`mediastudio.engines.builtin.video_tools.dubbing`), and a model of
its own (type ``translation``) for anyone who has segments to translate.

- The segments' texts go in one request, numbered, as a JSON object ``{"lines": [...]}``; the
  model is told to answer ``{"translations": [...]}`` with exactly as many strings, in order
  (``response_format: {"type": "json_object"}``; the model's default temperature, as GPT-5
  models take no other). One request for the whole
  transcript keeps the context (a sentence split over two segments) and costs one message.
- The answer is checked: JSON, an object, a list of strings as long as the segments. Anything
  else is :class:`ProviderError` (a refusal is :class:`InvalidPrompt`); it is never repeated.
- The output is a transcript (:mod:`mediastudio.engines.media.transcripts`) in the target
  language with the source's times: JSON, and SRT / WebVTT when asked.

This module knows no credits: the price is the model's, per job (one message).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, model_validator

from mediastudio.engines.contract import (
    InputFetcher,
    InvalidPrompt,
    OutputFile,
    PlannedOutput,
    ProviderError,
    RunContext,
)
from mediastudio.engines.inputs import StrictInput
from mediastudio.engines.media import transcripts
from mediastudio.engines.media.captions import MAX_CUE_TIME_S, MAX_CUES

TYPE = "translation"
LANGUAGE_PATTERN = r"^[a-z]{2,3}$"
MAX_LINE_CHARS = 1000


class TranslationSegment(StrictInput):
    start: float = Field(ge=0, le=MAX_CUE_TIME_S, description="Start, seconds")
    end: float = Field(ge=0, le=MAX_CUE_TIME_S, description="End, seconds")
    text: str = Field(min_length=1, max_length=MAX_LINE_CHARS, description="What is said")


TranscriptFormat = Literal["json", "srt", "vtt"]


def _json_only() -> list[TranscriptFormat]:
    return ["json"]


class TranslationInput(StrictInput):
    segments: list[TranslationSegment] = Field(
        min_length=1, max_length=MAX_CUES, description="Timed text, in order"
    )
    target_language: str = Field(
        pattern=LANGUAGE_PATTERN, description="The language to translate into (ISO 639-1)"
    )
    source_language: str | None = Field(
        None, pattern=LANGUAGE_PATTERN, description="The segments' language; detected if left out"
    )
    output_formats: list[TranscriptFormat] = Field(
        default_factory=_json_only,
        min_length=1,
        max_length=3,
        description="The files to hand back: the translated transcript as json, srt, vtt",
        json_schema_extra={"uniqueItems": True},  # what _distinct_formats checks
    )

    @model_validator(mode="after")
    def _distinct_formats(self) -> Self:
        if len(set(self.output_formats)) != len(self.output_formats):
            raise ValueError("output_formats must not repeat a format")
        return self


def messages(validated: TranslationInput) -> list[dict[str, str]]:
    """The chat request's messages: the rule, then the numbered lines as JSON."""
    source = validated.source_language or "the language they are in"
    count = len(validated.segments)
    rule = (
        f"You translate subtitles from {source} into the language with ISO 639-1 code "
        f"{validated.target_language}. The user sends a JSON object whose 'lines' are spoken "
        f'lines of one video, in order. Answer only a JSON object {{"translations": [...]}} '
        f"with exactly {count} strings: line i translated, in the same order, each about as "
        "long to say as the original, nothing merged, split, added or explained."
    )
    lines = json.dumps({"lines": [s.text.strip() for s in validated.segments]}, ensure_ascii=False)
    return [{"role": "system", "content": rule}, {"role": "user", "content": lines}]


def body_for(target: str) -> Callable[[BaseModel, Mapping[str, str]], dict[str, Any]]:
    """The route's build: the ``/chat/completions`` body for ``target`` (OpenAI's model)."""

    def build(validated: BaseModel, media: Mapping[str, str] | None = None) -> dict[str, Any]:
        assert isinstance(validated, TranslationInput)
        return {
            "model": target,
            "messages": messages(validated),
            # No temperature: the GPT-5 models refuse any but the default (1).
            "response_format": {"type": "json_object"},
        }

    return build


def translated(answer: Mapping[str, Any], count: int) -> list[str]:
    """The translations in a ``chat.completion`` answer, checked to be ``count`` strings."""
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProviderError("OpenAI answered the translation without a choice.")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise ProviderError("OpenAI answered the translation without a message.")
    if message.get("refusal") or choices[0].get("finish_reason") == "content_filter":
        raise InvalidPrompt(f"The model refused to translate: {message.get('refusal') or ''}")
    content = message.get("content")
    try:
        found = json.loads(content) if isinstance(content, str) else None
    except ValueError:
        found = None
    lines = found.get("translations") if isinstance(found, dict) else None
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise ProviderError("OpenAI answered the translation with no list of translations.")
    if len(lines) != count:
        raise ProviderError(
            f"OpenAI translated {len(lines)} lines where {count} were sent; nothing is guessed."
        )
    return [line.strip() for line in lines]


def transcript(validated: TranslationInput, lines: Sequence[str]) -> transcripts.Transcript:
    """The translated lines on the source's times."""
    segments = tuple(
        transcripts.Segment(s.start, s.end, line)
        for s, line in zip(validated.segments, lines, strict=True)
    )
    duration = max(s.end for s in validated.segments)
    text = " ".join(line for line in lines if line)
    return transcripts.Transcript(text, validated.target_language, duration, segments)


def outputs(ctx: RunContext, found: transcripts.Transcript) -> list[OutputFile]:
    assert isinstance(ctx.input, TranslationInput)
    return transcripts.write_outputs(found, ctx.input.output_formats, ctx.output_path)


def plan(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """One file per format, as long as the segments run; the JSON one with the language."""
    assert isinstance(validated, TranslationInput)
    seconds = max(s.end for s in validated.segments)
    placeholder = transcripts.placeholder(seconds, validated.target_language)
    return [
        PlannedOutput(
            transcripts.FORMAT_TYPES[fmt],
            duration_s=round(seconds, 3),
            extra=transcripts.output_fields(placeholder) if fmt == "json" else {},
        )
        for fmt in validated.output_formats
    ]
