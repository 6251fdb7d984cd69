"""Captions made from a video's own speech, for the subtitles and auto-clip tools.

The video's sound is transcribed by a transcription model of the catalog (by default a
registered local faster-whisper model when one can run, since the local engine's models come
first in the catalog's default order; else a hosted provider's: ``openai/whisper-1``, then
``openai/gpt-transcribe`` once whisper-1 retires on its shutdown day, see
``catalog/lifecycle.py``) run as a step of the job
(:mod:`mediastudio.engines.compose`); its timed segments become the cues that
:mod:`~mediastudio.engines.media.captions` burns in.
The model is named by the input's ``transcription_model``: the catalog writes its default there
when the job is created (see :class:`~mediastudio.engines.contract.StepUse`), so the job runs
(and was priced with) a known model.

Everything here runs in the tool's worker thread; the step itself runs on the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from mediastudio.engines.compose import Composition
from mediastudio.engines.contract import EngineError, InvalidInput, StepUse
from mediastudio.engines.inputs import StrictInput, TranscriptionInput
from mediastudio.engines.media import transcripts
from mediastudio.engines.media.captions import MAX_CUE_CHARS, Cue
from mediastudio.engines.registry import EngineRegistry

TRANSCRIPTION = "transcription"
MODEL_FIELD = "transcription_model"
STEP = "transcribe"


class CaptionSource(StrictInput):
    """The fields that say how captions are made from the video's speech."""

    language: str | None = Field(
        None,
        pattern=r"^[a-z]{2,3}$",
        description="The spoken language (ISO 639-1, e.g. en) when the captions are generated; "
        "detected when left out",
    )
    transcription_model: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The transcription model that generates the captions (GET "
        "/api/v1/models?type=transcription); the catalog's default when left out",
    )


def step_use(video_url: str, language: str | None, *, words: bool = False) -> StepUse:
    """The transcription step of a job that generates captions for ``video_url`` (with
    ``words``, asking for each word's times as well: the price is the same)."""
    step_input: dict[str, object] = {"audio_url": video_url, "output_formats": ["json"]}
    if language is not None:
        step_input["language"] = language
    if words:
        step_input["timestamp_granularities"] = ["segment", "word"]
    return StepUse(type=TRANSCRIPTION, field=MODEL_FIELD, input=step_input)


def gives_words(registry: EngineRegistry, model_id: str | None) -> bool:
    """Whether ``model_id`` times each word (whisper-1, a local Whisper; not the text-only
    models, which refuse ``word``)."""
    registered = registry.get(model_id) if model_id is not None else None
    model = registered.spec.input_model if registered is not None else None
    return isinstance(model, type) and issubclass(model, TranscriptionInput) and model.GIVES_WORDS


def transcribe(
    steps: Composition,
    model_id: str | None,
    video_url: str,
    source: Path,
    language: str | None,
) -> list[Cue]:
    """The video's speech as cues, from one transcription step (``source`` is the video
    already fetched from ``video_url``: the step reads it rather than fetching it again)."""
    return cues_of(transcript_of(steps, model_id, video_url, source, language))


def transcript_of(
    steps: Composition,
    model_id: str | None,
    video_url: str,
    source: Path,
    language: str | None,
    *,
    words: bool = False,
) -> transcripts.Transcript:
    """The video's transcript from one transcription step, with its words' times when
    ``words`` is asked and the model gives them."""
    if model_id is None:
        # The catalog names the model when the job is created; a job without one was not.
        raise EngineError("No transcription model was chosen for this job's captions.")
    steps.share(video_url, source)
    timed = words and gives_words(steps.registry, model_id)
    use = step_use(video_url, language, words=timed)
    outputs = steps.run_model(STEP, model_id, dict(use.input))
    found = [o for o in outputs if o.content_type == transcripts.FORMAT_TYPES["json"]]
    if not found:
        raise EngineError(f"{model_id} gave no JSON transcript.")
    try:
        return transcripts.read_json(found[0].path)
    except ValueError as exc:
        raise EngineError(f"{model_id} gave a transcript that does not read: {exc}") from exc


def cues_of(transcript: transcripts.Transcript) -> list[Cue]:
    """The transcript's segments as cues: empty and zero-length ones left out, a long one cut
    at its words when their times are known (:func:`_split`); none at all (a silent or
    wordless video) fails the job, with nothing to burn in."""
    words = transcript.words if transcript.timed else None
    cues = [
        cue
        for segment in transcript.segments
        if segment.text.strip() and segment.end > segment.start >= 0
        for cue in _split(segment, words or ())
    ]
    if not cues:
        raise InvalidInput("No speech was found in the video's sound to make captions of.")
    return sorted(cues, key=lambda cue: (cue.start, cue.end))


def _split(segment: transcripts.Segment, words: Sequence[transcripts.Word]) -> list[Cue]:
    """A segment as cues: one, or, when it is longer than a caption reads well
    (:data:`~mediastudio.engines.media.transcripts.MAX_CUE_CHARS`) and its words are timed one
    for one with its text, pieces of that length cut where a word starts (each piece shown
    until the next one's first word, so the cues still cover the segment)."""
    whole = [Cue(segment.start, segment.end, segment.text[:MAX_CUE_CHARS])]
    tokens = segment.text.split()
    heard = [w for w in words if segment.start <= w.start < segment.end]
    if len(segment.text) <= transcripts.MAX_CUE_CHARS or len(heard) != len(tokens):
        return whole
    pieces: list[list[int]] = [[]]
    for index, token in enumerate(tokens):
        current = " ".join(tokens[i] for i in pieces[-1])
        if pieces[-1] and len(current) + 1 + len(token) > transcripts.MAX_CUE_CHARS:
            pieces.append([])
        pieces[-1].append(index)
    starts = [segment.start, *(heard[piece[0]].start for piece in pieces[1:])]
    ends = [*starts[1:], segment.end]
    return [
        Cue(start, end, " ".join(tokens[i] for i in piece)[:MAX_CUE_CHARS])
        for start, end, piece in zip(starts, ends, pieces, strict=True)
        if end > start
    ]


def within(cues: Sequence[Cue], start: float, end: float) -> list[Cue]:
    """The cues shown in ``[start, end)`` of the video, cut to it and timed from its start (a
    clip's own captions)."""
    return [
        Cue(max(cue.start, start) - start, min(cue.end, end) - start, cue.text)
        for cue in cues
        if cue.start < end and cue.end > start
    ]


def planned(duration_s: float, language: str | None) -> list[Cue]:
    """The cues a plan (the sandbox) counts on: the sandbox transcript of that much sound."""
    placeholder = transcripts.placeholder(duration_s, language)
    return [Cue(s.start, s.end, s.text) for s in placeholder.segments]
