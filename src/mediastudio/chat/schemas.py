"""Chat in and out (seed 002's ``{message}`` → ``{reply, timestamp}``, extended)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_CONTENT = 32_000  # characters of one message
MAX_HISTORY = 100


class HistoryItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1, max_length=MAX_CONTENT)


class ChatRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"message": "What can you help me with?"}]},
    )

    message: str = Field(min_length=1, max_length=MAX_CONTENT, description="The user's message")
    conversation_id: str | None = Field(
        None,
        max_length=40,
        description="Continue this conversation: its stored messages are sent as history",
    )
    history: list[HistoryItem] | None = Field(
        None,
        max_length=MAX_HISTORY,
        description="Earlier messages of a new conversation (not with conversation_id)",
    )
    model: str | None = Field(
        None, max_length=200, description="A chat model id; default: the server's chat model"
    )
    max_tokens: int | None = Field(
        None, ge=1, le=4096, description="Longest reply in tokens (default 1024)"
    )
    temperature: float | None = Field(None, ge=0, le=2)


class ChatUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatResponse(BaseModel):
    id: str = Field(description="The reply's message id")
    conversation_id: str
    reply: str
    timestamp: datetime
    model: str
    usage: ChatUsage
    finish_reason: str
    credits_charged: int
    sandbox: bool


class MessageRead(BaseModel):
    id: str
    role: str
    content: str
    status: Literal["pending", "answered", "failed", "partial"] = Field(
        description="partial: a streamed reply whose client left before its end (what it got)"
    )
    model: str | None
    created_at: datetime


class ConversationRead(BaseModel):
    id: str
    model: str
    sandbox: bool
    created_at: datetime
    updated_at: datetime
    messages: list[MessageRead]
