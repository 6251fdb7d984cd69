"""HTTP for transcriptions: parse, authorise, hand over to the generations service."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import ConfigDict

from mediastudio.engines.inputs import TranscriptionInput
from mediastudio.generations.endpoints import (
    CREATE_RESPONSES,
    AudioPrincipal,
    IdempotencyKey,
    PlatformDep,
    create_typed,
)
from mediastudio.generations.schemas import Envelope
from mediastudio.kit.errors import ERROR_RESPONSES
from mediastudio.kit.examples import EXAMPLE_VIDEO_URL

router = APIRouter(prefix="/api/v1", tags=["transcriptions"], responses=ERROR_RESPONSES)
TYPE = "transcription"


class TranscriptionRequest(TranscriptionInput, Envelope):
    # Extra fields pass to the chosen model's own schema (``options`` on OpenAI's models).
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "audio_url": EXAMPLE_VIDEO_URL,
                    "language": "en",
                    "output_formats": ["json", "srt", "vtt"],
                }
            ]
        },
    )


@router.post(
    "/transcriptions",
    summary="Transcribe audio or a video's sound",
    description=(
        "Speech to text: timed segments and the full text (a JSON file, whose text and "
        "language the generation's output also carries), and SRT / WebVTT captions. The input "
        "is an upload id, a URL or a data: URI of audio or video (a video's sound is "
        "extracted); OpenAI's models read 25 MB at most."
    ),
    status_code=202,
    responses=CREATE_RESPONSES,
)
async def create_transcription(
    request: Request,
    body: TranscriptionRequest,
    platform: PlatformDep,
    principal: AudioPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(request, platform, principal, TYPE, body, idempotency_key)
