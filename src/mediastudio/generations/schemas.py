"""The generation's public shape, and the request envelopes around a model's input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from mediastudio.engines.inputs import (
    CommercialInput,
    ImageInput,
    MusicInput,
    SpeechInput,
    VideoInput,
)
from mediastudio.generations.models import Generation, Status


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

    model_config = ConfigDict(extra="forbid")

    model: str = Field(max_length=200)
    input: dict[str, Any]
    webhook_url: AnyHttpUrl | None = Field(None, json_schema_extra=HTTPS_ONLY)
    metadata: dict[str, Any] | None = None
    external_id: str | None = Field(None, max_length=200)


# Typed bodies for /generate/{type}: the standard input plus the envelope. They document the
# endpoints and reject garbage early; the chosen model's own schema is then applied to the input.
class ImageRequest(ImageInput, Envelope):
    model_config = ConfigDict(extra="allow")


class VideoRequest(VideoInput, Envelope):
    model_config = ConfigDict(extra="allow")


class SpeechRequest(SpeechInput, Envelope):
    model_config = ConfigDict(extra="allow")


class MusicRequest(MusicInput, Envelope):
    model_config = ConfigDict(extra="allow")


class CommercialRequest(CommercialInput, Envelope):
    model_config = ConfigDict(extra="allow")


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
        external_id=generation.external_id,
        metadata=generation.metadata_ or {},
        webhook_url=generation.webhook_url,
        created_at=generation.created_at,
        started_at=generation.started_at,
        completed_at=generation.completed_at,
    )
