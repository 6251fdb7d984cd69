"""Our speech input as ElevenLabs' text-to-speech request, and what it hands back (the output
plan, the sandbox's twin).

- ``text`` is ``text``; ``voice`` is the ``{voice_id}`` of the path; the target is ``model_id``.
- ``output_format`` is the ``output_format`` query: ``mp3`` → ``mp3_44100_128``, ``wav`` →
  ``wav_24000`` (ElevenLabs' 44.1 kHz PCM and WAV need its Pro tier; 24 kHz any account).
- ``speed``, ``stability``, ``similarity_boost`` and ``style`` go in ``voice_settings`` (only
  those given: the voice's stored settings apply to the rest).
- ``language`` is ``language_code`` on eleven_flash_v2_5 (its primary subtag: ``pt-BR`` →
  ``pt``); eleven_multilingual_v2 takes none (ElevenLabs: "not supported for multilingual_v2
  models") and speaks the text's language.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from mediastudio.engines.contract import InputFetcher, PlannedOutput
from mediastudio.engines.media.files import content_type
from mediastudio.engines.providers.inputs import ElevenFlashInput, ElevenLabsSpeechInput
from mediastudio.engines.providers.openai.mapping import (
    SPEECH_MIN_TOLERANCE_S,
    SPEECH_TOLERANCE,
    speech_seconds,
)

OUTPUT_FORMATS = {"mp3": "mp3_44100_128", "wav": "wav_24000"}
# ElevenLabs' voices are mono at the rate the output format names (its second part).
SAMPLE_RATES = {ours: int(theirs.split("_")[1]) for ours, theirs in OUTPUT_FORMATS.items()}
# Keys of the payload the adapter takes out of the JSON body (the path and the query).
VOICE_ID, OUTPUT_FORMAT = "voice_id", "output_format"
VOICE_SETTINGS = ("stability", "similarity_boost", "style", "speed")


def speech(validated: BaseModel, media: object = None) -> dict[str, Any]:
    """The request: ``voice_id`` and ``output_format`` for the URL, the rest the JSON body."""
    assert isinstance(validated, ElevenLabsSpeechInput)
    body: dict[str, Any] = {
        **(validated.options or {}),
        "text": validated.text,
        VOICE_ID: validated.voice,
        OUTPUT_FORMAT: OUTPUT_FORMATS[validated.output_format],
    }
    settings = {
        name: getattr(validated, name)
        for name in VOICE_SETTINGS
        if getattr(validated, name) is not None
    }
    if settings:
        body["voice_settings"] = settings
    if isinstance(validated, ElevenFlashInput) and validated.language is not None:
        body["language_code"] = validated.language.replace("_", "-").split("-")[0].lower()
    return body


def speech_plan(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """One track in the format asked for, about as long as a voice takes to say the text."""
    assert isinstance(validated, ElevenLabsSpeechInput)
    seconds = speech_seconds(validated.text, validated.speed or 1.0)
    return [
        PlannedOutput(
            content_type(validated.output_format),
            duration_s=round(seconds, 3),
            duration_tolerance_s=SPEECH_MIN_TOLERANCE_S + SPEECH_TOLERANCE * seconds,
            sample_rate=SAMPLE_RATES[validated.output_format],
            channels=1,
        )
    ]
