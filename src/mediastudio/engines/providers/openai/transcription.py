"""Speech to text on OpenAI (``POST /audio/transcriptions``): gpt-transcribe, whisper-1,
gpt-4o-transcribe and gpt-4o-mini-transcribe.

- The input (an upload, a URL, a ``data:`` URI; audio or video) is read through the job's
  SSRF-safe fetcher and sent as a file: as it is when OpenAI reads its format and it is within
  OpenAI's 25 MB; else (a video, AAC, M4A, a large file) its sound re-encoded as compact mono
  MP3 (:mod:`mediastudio.engines.media.speech_audio`). Still over 25 MB: ``invalid_input``,
  saying so, before anything is sent.
- whisper-1 is asked for ``verbose_json`` with segment timestamps: its segments, with their
  times, are the transcript's. The gpt-4o models answer text only (``json``: they take no
  ``verbose_json`` and no timestamps), so their segments are the text's sentences spread over
  the audio by length, and the transcript says ``"timestamps": "estimated"``. So does
  gpt-transcribe: the official client documents its answer as the ``json`` transcription
  (text and the detected ``languages``) and no verbose one (whose usage is billed by
  duration, whisper's way), so it is asked for ``json`` and its first detected language is
  the transcript's when none was given.
- ``timestamp_granularities: ["word"]`` asks whisper-1 for ``timestamp_granularities[]=word``
  too (with ``segment``: the captions need segments) and the JSON transcript carries its
  ``words``. The text-only models refuse ``word`` when the job is created: OpenAI takes
  timestamp granularities with ``verbose_json`` only, which they do not answer.
- The outputs are the formats asked for (:mod:`mediastudio.engines.media.transcripts`); the
  JSON one carries the text and the language on the generation itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, field_validator

from mediastudio.engines.contract import (
    InputFetcher,
    OutputFile,
    PlannedOutput,
    ProviderError,
    RunContext,
)
from mediastudio.engines.inputs import TimestampGranularity, TranscriptionInput
from mediastudio.engines.media import speech_audio, transcripts
from mediastudio.engines.media.speech_audio import SpeechAudio
from mediastudio.engines.providers.http import Pause
from mediastudio.engines.providers.inputs import Options, options_field
from mediastudio.engines.schema import JsonSchema

TYPE = "transcription"
MAX_FILE_BYTES = 25 * 1024 * 1024  # OpenAI: "Maximum content size limit (26214400) exceeded"
# The models whose answer has segments with times (verbose_json); the others give text only.
TIMED_MODELS = frozenset({"whisper-1"})


class OpenAITranscriptionInput(TranscriptionInput):
    options: Options = options_field()


class TextOnlyTranscriptionInput(OpenAITranscriptionInput):
    """The input of a model that answers text only (gpt-transcribe, the gpt-4o models): OpenAI
    takes ``timestamp_granularities`` with ``verbose_json`` alone, which these models do not
    give, so asking one for word times is refused when the job is created."""

    GIVES_WORDS: ClassVar[bool] = False

    @classmethod
    def schema_rules(cls) -> list[JsonSchema]:
        segments_only = {
            "description": "this model gives no word times",
            "properties": {"timestamp_granularities": {"items": {"const": "segment"}}},
        }
        return [*super().schema_rules(), segments_only]

    @field_validator("timestamp_granularities")
    @classmethod
    def _no_word_times(cls, value: list[TimestampGranularity]) -> list[TimestampGranularity]:
        if "word" in value:
            raise ValueError(
                "this model answers text only, without word times: leave "
                "timestamp_granularities at ['segment'], or use openai/whisper-1 or a local "
                "Whisper model for words"
            )
        return value


def input_model(target: str) -> type[OpenAITranscriptionInput]:
    return OpenAITranscriptionInput if target in TIMED_MODELS else TextOnlyTranscriptionInput


@runtime_checkable
class Transcriber(Protocol):
    name: str

    async def transcribe(
        self, target: str, audio: SpeechAudio, fields: dict[str, Any], pause: Pause
    ) -> dict[str, Any]: ...


def fields_for(target: str) -> Any:
    """The route's build: our input as the form's fields (besides ``file`` and ``model``)."""

    def build(validated: BaseModel, media: Mapping[str, str] | None = None) -> dict[str, Any]:
        assert isinstance(validated, OpenAITranscriptionInput)
        # The file and the model are ours to send: an option cannot replace them.
        options = validated.options or {}
        form = {k: v for k, v in options.items() if k not in ("file", "model")}
        if target in TIMED_MODELS:
            form["response_format"] = "verbose_json"
            # Segments always: the captions (srt, vtt) are cut from them.
            words = ["word"] if validated.wants_words else []
            form["timestamp_granularities"] = ["segment", *words]
        else:
            form["response_format"] = "json"
        if validated.language is not None:
            form["language"] = validated.language
        if validated.prompt is not None:
            form["prompt"] = validated.prompt
        return form

    return build


def prepare(ctx: RunContext) -> SpeechAudio:
    """The input, fetched and made into a file OpenAI takes (blocking: run it in a thread)."""
    assert isinstance(ctx.input, TranscriptionInput)
    source = ctx.fetcher.fetch(ctx.input.audio_url)
    return speech_audio.prepare(
        source,
        ctx.output_path(".speech.mp3"),
        max_bytes=MAX_FILE_BYTES,
        check_cancelled=ctx.check_cancelled,
    )


def transcript(
    answer: Mapping[str, Any], audio: SpeechAudio, language: str | None, *, words: bool = False
) -> transcripts.Transcript:
    """OpenAI's answer as a transcript of ``audio``: whisper's timed segments (and its timed
    words when ``words`` were asked for), or the text spread over the audio's length when the
    model gave no times."""
    text = str(answer.get("text") or "").strip()
    spoken = language or _str(answer.get("language")) or _first_language(answer.get("languages"))
    segments = answer.get("segments")
    if not isinstance(segments, list):
        return transcripts.spread(text, audio.duration_s, spoken)
    timed_words = _words(answer.get("words"), audio.duration_s) if words else None
    timed = []
    for item in segments:
        if not isinstance(item, dict):
            raise ProviderError("OpenAI answered a transcript segment that is not an object.")
        try:
            start, end = float(item["start"]), float(item["end"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderError("OpenAI answered a transcript segment without times.") from exc
        said = str(item.get("text") or "").strip()
        timed.append(transcripts.Segment(round(start, 3), round(end, 3), said))
    return transcripts.Transcript(text, spoken, audio.duration_s, tuple(timed), words=timed_words)


def _words(answer: Any, duration_s: float) -> tuple[transcripts.Word, ...]:
    """whisper-1's ``words: [{word, start, end}]`` (none when it heard no speech)."""
    if answer is None:
        return ()
    if not isinstance(answer, list):
        raise ProviderError("OpenAI answered words that are not a list.")
    found = []
    for item in answer:
        try:
            found.append(
                transcripts.Word(str(item["word"]), float(item["start"]), float(item["end"]))
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderError("OpenAI answered a word without its text or times.") from exc
    return transcripts.ordered_words(found, duration_s)


def outputs(ctx: RunContext, found: transcripts.Transcript) -> list[OutputFile]:
    assert isinstance(ctx.input, TranscriptionInput)
    return transcripts.write_outputs(found, ctx.input.output_formats, ctx.output_path)


def plan(validated: BaseModel, fetcher: InputFetcher) -> Sequence[PlannedOutput]:
    """One file per format asked for, each as long as the input's sound (read from its
    headers and frames); the JSON one with the text and language fields."""
    assert isinstance(validated, TranscriptionInput)
    _, _, seconds = speech_audio.probe(fetcher.fetch(validated.audio_url))
    return transcripts.planned_outputs(validated.output_formats, seconds, validated.language)


def _first_language(languages: Any) -> str | None:
    """gpt-transcribe's ``languages: [{"code"}]``, most likely first; empty when unsure."""
    if isinstance(languages, list) and languages and isinstance(languages[0], dict):
        return _str(languages[0].get("code"))
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
