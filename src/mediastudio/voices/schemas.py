"""The public shape of a voice: the speech models' voices, and an account's custom voices."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mediastudio.kit.examples import EXAMPLE_AUDIO
from mediastudio.voices.cloning import MAX_SAMPLES
from mediastudio.voices.models import CustomVoice

# An upload, an http(s) URL (fetched through the SSRF-safe fetcher) or a base64 data: URI.
SAMPLE_PATTERN = r"^(file_[0-9a-z]{26}|https?://\S+|data:audio/[-+.\w]+;base64,[A-Za-z0-9+/=]+)$"
SAMPLE_MAX_CHARS = 8_000_000  # a data: URI of about 6 MB; larger audio goes through /files


class VoiceRead(BaseModel):
    id: str = Field(description="What the model's `voice` input takes")
    name: str
    language: str = Field(description="Its main language code ('' when not known)")
    languages: list[str] = Field(description="Every language code it speaks, main one first")
    gender: str | None = None
    model: str = Field(description="The speech model that has this voice")
    engine: str
    custom: bool = Field(False, description="One of the account's cloned voices (voice_…)")


class CloningRead(BaseModel):
    """Whether ``POST /voices`` can clone for this key, with whom, and its price."""

    available: bool
    provider: str
    credits: int = Field(description="Credits one cloning costs this key (0 in the sandbox)")
    unavailable_reason: str | None = None


class VoiceList(BaseModel):
    object: str = "list"
    data: list[VoiceRead]
    total: int
    cloning: CloningRead


class VoiceCreate(BaseModel):
    """A voice to clone from one to ten audio samples of one speaker."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Narrator",
                    "samples": [EXAMPLE_AUDIO],
                    "consent": True,
                    "language": "en",
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=100, description="A name for the voice")
    samples: list[Annotated[str, Field(max_length=SAMPLE_MAX_CHARS, pattern=SAMPLE_PATTERN)]] = (
        Field(
            min_length=1,
            max_length=MAX_SAMPLES,
            description="Audio of the speaker: uploaded files (file_… from POST /files), http(s) "
            "URLs or data:audio/…;base64 URIs, fetched once and kept as the account's files; 1 to "
            "10 (clean speech, a minute or more in all)",
        )
    )
    consent: Literal[True] = Field(
        description="Required, and must be true: you affirm that you own this voice or have "
        "its speaker's explicit consent to clone it (the statement is stored with the voice)"
    )
    description: str | None = Field(None, max_length=400)
    language: str | None = Field(
        None,
        pattern=r"^[A-Za-z]{2}([-_][A-Za-z0-9]{2,8})?$",
        description="The samples' language (ISO 639-1), as a label",
    )
    remove_background_noise: bool = Field(
        False, description="Let the provider isolate the voice (may hurt clean samples)"
    )


class VoiceSampleRead(BaseModel):
    file_id: str = Field(description="The account's file (deleted with the voice)")
    sha256: str
    bytes: int
    content_type: str
    source: Literal["upload", "url"]


class ConsentRead(BaseModel):
    statement: str = Field(description="What the caller affirmed, word for word")
    api_key_id: str = Field(description="The key that affirmed it")
    given_at: datetime


class CustomVoiceRead(BaseModel):
    id: str = Field(description="voice_…: pass it as `voice` to an ElevenLabs speech model")
    object: Literal["voice"] = "voice"
    name: str
    description: str | None
    language: str | None
    provider: str
    status: Literal["training", "ready", "deleting"]
    requires_verification: bool = Field(
        description="The provider asks the speaker to verify the voice before it speaks"
    )
    samples: list[VoiceSampleRead]
    consent: ConsentRead
    credits_charged: int
    sandbox: bool
    created_at: datetime

    @classmethod
    def of(cls, voice: CustomVoice) -> CustomVoiceRead:
        consent: dict[str, Any] = voice.consent
        return cls(
            id=voice.id,
            name=voice.name,
            description=voice.description,
            language=voice.language,
            provider=voice.provider,
            status=voice.status,
            requires_verification=voice.requires_verification,
            samples=[VoiceSampleRead.model_validate(s) for s in voice.samples],
            consent=ConsentRead.model_validate(consent),
            credits_charged=voice.credits if voice.status != "training" else 0,
            sandbox=voice.sandbox,
            created_at=voice.created_at,
        )
