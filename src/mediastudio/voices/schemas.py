"""The public shape of a voice."""

from __future__ import annotations

from pydantic import BaseModel, Field


class VoiceRead(BaseModel):
    id: str = Field(description="What the model's `voice` input takes")
    name: str
    language: str = Field(description="Its main language code")
    languages: list[str] = Field(description="Every language code it speaks, main one first")
    gender: str | None = None
    model: str = Field(description="The speech model that has this voice")
    engine: str


class VoiceList(BaseModel):
    object: str = "list"
    data: list[VoiceRead]
    total: int
