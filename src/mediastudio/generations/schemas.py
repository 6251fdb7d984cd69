"""The generation's public shape, and the request envelopes around a model's input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError

from mediastudio.engines.contract import ATTEMPTS_KEY
from mediastudio.engines.inputs import (
    CommercialInput,
    ImageEditInput,
    ImageInput,
    MusicInput,
    SpeechInput,
    VideoInput,
)
from mediastudio.generations.models import Generation, Status
from mediastudio.kit.examples import EXAMPLE_IMAGE


class OutputRead(BaseModel):
    model_config = ConfigDict(extra="allow")

    url: str
    content_type: str
    bytes: int
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None


class JobError(BaseModel):
    code: str
    message: str


class AttemptRead(BaseModel):
    """One try of the job on one hosted provider route (docs/providers/routing.md)."""

    route: str = Field(description="<provider>/<provider's model id>")
    provider: str
    outcome: Literal["succeeded", "failed_over", "failed"] = Field(
        description="failed_over: this route failed and the next one was tried"
    )
    error_code: str | None = None
    error: str | None = None
    latency_ms: int = Field(ge=0, description="From submitting (or preparing) to the end")
    job_id: str | None = Field(None, description="The provider's own id of its job, if made")
    started_at: datetime


class GenerationRead(BaseModel):
    id: str
    object: str = "generation"
    type: str
    model: str
    status: Status
    input: dict[str, Any]
    prompt: str | None
    progress: int = Field(ge=0, le=100)
    outputs: list[OutputRead]
    output_url: str | None
    error: JobError | None
    credits_reserved: int
    credits_charged: int
    credits_refunded: int
    sandbox: bool
    provider: str | None = Field(
        None, description="The hosted provider that ran the job (e.g. replicate); null otherwise"
    )
    attempts: list[AttemptRead] = Field(
        default_factory=list,
        description="Each finished try on a hosted provider, in order (failovers included)",
    )
    external_id: str | None
    metadata: dict[str, Any]
    webhook_url: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class GenerationList(BaseModel):
    object: str = "list"
    data: list[GenerationRead]
    has_more: bool
    next_cursor: str | None
    limit: int
    offset: int


# A job's webhook_url is checked like a webhook endpoint's (https; no private address).
HTTPS_ONLY: dict[str, Any] = {"pattern": "^https://"}


class Envelope(BaseModel):
    """Fields every create request may carry besides the model's own input."""

    webhook_url: AnyHttpUrl | None = Field(
        None, description="Also notify this URL of this job", json_schema_extra=HTTPS_ONLY
    )
    metadata: dict[str, Any] | None = Field(None, description="Your own data, returned as is")
    external_id: str | None = Field(None, max_length=200, description="Your own id for this job")
    model: str | None = Field(None, max_length=200, description="Model id; default per type")


ENVELOPE_FIELDS = frozenset(Envelope.model_fields)


class CreateGeneration(BaseModel):
    """``POST /generations``: any catalog model, its input nested under ``input``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "model": "builtin/espeak",
                    "input": {"text": "Your order has shipped.", "output_format": "mp3"},
                    "metadata": {"order_id": "1042"},
                    "external_id": "order-1042-notice",
                }
            ]
        },
    )

    model: str = Field(max_length=200)
    input: dict[str, Any]
    webhook_url: AnyHttpUrl | None = Field(None, json_schema_extra=HTTPS_ONLY)
    metadata: dict[str, Any] | None = None
    external_id: str | None = Field(None, max_length=200)


# Typed bodies for /generate/{type}: the standard input plus the envelope. They document the
# endpoints and reject garbage early; the chosen model's own schema is then applied to the input.
# Each has an example, which is what Swagger UI's "Try it out" sends: without one it would make
# up a body from the schema ("string" URLs, both aspect_ratio and width/height) and get a 400.
class ImageRequest(ImageInput, Envelope):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "prompt": "a red bicycle on a beach at sunset",
                    "aspect_ratio": "16:9",
                    "output_format": "png",
                }
            ]
        },
    )


class ImageEditRequest(ImageEditInput, Envelope):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "image_url": EXAMPLE_IMAGE,
                    "prompt": "make it a watercolour painting",
                    "output_format": "png",
                }
            ]
        },
    )


class VideoRequest(VideoInput, Envelope):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "prompt": "waves rolling onto a sandy beach, slow aerial shot",
                    "duration": 5,
                    "aspect_ratio": "16:9",
                }
            ]
        },
    )


class SpeechRequest(SpeechInput, Envelope):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"text": "Hello from MediaStudio.", "language": "en", "output_format": "mp3"}
            ]
        },
    )


class MusicRequest(MusicInput, Envelope):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "prompt": "upbeat product launch",
                    "genre": "electronic",
                    "mood": "energetic",
                    "duration": 30,
                }
            ]
        },
    )


class CommercialRequest(CommercialInput, Envelope):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "product": "Aurora running shoes",
                    "platform": "tiktok",
                    "duration": 15,
                    "tone": "energetic",
                    "product_images": [EXAMPLE_IMAGE],
                }
            ]
        },
    )


UrlFor = Callable[[str], str]


def present(generation: Generation, url_for: UrlFor) -> GenerationRead:
    outputs = [
        OutputRead(url=url_for(item["key"]), **{k: v for k, v in item.items() if k != "key"})
        for item in generation.outputs or []
    ]
    return GenerationRead(
        id=generation.id,
        type=generation.type,
        model=generation.model,
        status=Status(generation.status),
        input=generation.input,
        prompt=generation.prompt,
        progress=generation.progress,
        outputs=outputs,
        output_url=outputs[0].url if outputs else None,
        error=JobError(**generation.error) if generation.error else None,
        credits_reserved=generation.credits_reserved,
        credits_charged=generation.credits_charged,
        credits_refunded=generation.credits_refunded,
        sandbox=generation.sandbox,
        provider=generation.provider,
        attempts=attempts_of(generation),
        external_id=generation.external_id,
        metadata=generation.metadata_ or {},
        webhook_url=generation.webhook_url,
        created_at=generation.created_at,
        started_at=generation.started_at,
        completed_at=generation.completed_at,
    )


def attempts_of(generation: Generation) -> list[AttemptRead]:
    """The attempts its engine stored with the job (an entry that does not read is left out:
    the checkpoint is the engine's to write)."""
    stored = (generation.checkpoint or {}).get(ATTEMPTS_KEY)
    attempts = []
    for item in stored if isinstance(stored, list) else []:
        try:
            attempts.append(AttemptRead.model_validate(item))
        except ValidationError:
            continue
    return attempts
