"""Seed 002's bodies: snake_case requests as its documentation shows them, camelCase answers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from mediastudio.chat.schemas import MAX_CONTENT

# Seed 002's ``type`` → MediaStudio's generation type. The seed documents image and video; a
# voice (speech) and music job are the same call with the prompt as what to say or play.
TYPES: dict[str, str] = {
    "image": "image",
    "video": "video",
    "voice": "speech",
    "speech": "speech",
    "audio": "speech",
    "music": "music",
}
# Where the seed's ``prompt`` goes in a type's input when it is not ``prompt``.
PROMPT_FIELD: dict[str, str] = {"speech": "text"}


class GenerateRequest(BaseModel):
    """``{prompt, type, …}``: every other field is the model's input as on /api/v1 (the
    model's own validation refuses what it does not take), ``model`` chooses the model."""

    model_config = ConfigDict(extra="allow")

    prompt: str = Field(min_length=1, max_length=10_000)
    type: str = Field(min_length=1, max_length=40)


class GenerateResponse(BaseModel):
    jobId: str
    status: str


class StatusResponse(BaseModel):
    """``GET /api/status/{jobId}``: the seed names the route, not its answer; this is the
    native generation's fields a poller needs, in the seed's camelCase."""

    jobId: str
    status: str
    type: str
    model: str
    progress: int
    outputUrl: str | None
    outputUrls: list[str]
    error: str | None
    errorCode: str | None
    creditsCharged: int
    creditsRefunded: int
    sandbox: bool
    createdAt: str
    completedAt: str | None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=MAX_CONTENT)
    conversationId: str | None = Field(None, max_length=40)
    model: str | None = Field(None, max_length=200)


class ChatResponse(BaseModel):
    reply: str
    timestamp: str
    conversationId: str
    model: str
