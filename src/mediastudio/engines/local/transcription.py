"""The local engine's transcription models (faster-whisper folders): their input, plan and run,
with the shapes every transcription model has (the same input fields and the same files as
OpenAI's; :mod:`mediastudio.engines.media.transcripts` writes them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from mediastudio.engines.contract import InputFetcher, InvalidInput, PlannedOutput, RunContext
from mediastudio.engines.inputs import TranscriptionInput
from mediastudio.engines.local import whisper
from mediastudio.engines.media import speech_audio, transcripts
from mediastudio.engines.media.audio import read_audio

TYPE = "transcription"
# The operator's own hardware: a token price per job, MEDIASTUDIO_MODEL_PRICES sets it.
CREDITS_PER_TRANSCRIPT = 1
# A CPU transcribes an hour of speech with whisper-small in roughly real time.
TIMEOUT_S = 3600.0


def plan(validated: BaseModel, fetcher: InputFetcher) -> Sequence[PlannedOutput]:
    """One file per format asked for, each as long as the input's sound."""
    assert isinstance(validated, TranscriptionInput)
    _, _, seconds = speech_audio.probe(fetcher.fetch(validated.audio_url))
    return transcripts.planned_outputs(validated.output_formats, seconds, validated.language)


def request(ctx: RunContext) -> whisper.Request:
    """The input's sound decoded to 16 kHz mono float32 (PyAV: audio or a video's track)."""
    validated = ctx.input
    assert isinstance(validated, TranscriptionInput)
    source = ctx.fetcher.fetch(validated.audio_url)
    audio = read_audio(source, rate=whisper.RATE, mono=True, check_cancelled=ctx.check_cancelled)
    if audio.size == 0:
        raise InvalidInput("The input has no sound to transcribe.")
    return whisper.Request(audio, validated.language, validated.prompt, validated.wants_words)


def run(ctx: RunContext, model: Any, found: whisper.Request) -> None:
    """Transcribe with the resident ``model``: progress by the audio time reached, a stop
    between two segments when the job is cancelled, then the files asked for."""
    assert isinstance(ctx.input, TranscriptionInput)
    duration = len(found.audio) / whisper.RATE

    def on_segment(reached_s: float) -> None:
        ctx.progress(min(1.0, reached_s / duration))
        ctx.check_cancelled()

    transcript = whisper.transcribe(model, found, on_segment)
    ctx.check_cancelled()
    for output in transcripts.write_outputs(transcript, ctx.input.output_formats, ctx.output_path):
        ctx.add_output(output)
