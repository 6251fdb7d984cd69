"""Seed 001's bodies: camelCase in and out, answers wrapped in ``{"data": …}``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Seed 001's job types for MediaStudio's (the rest are spelled alike).
SEED_TYPES: dict[str, str] = {"speech": "voice", "auto-clip": "clip", "dubbing": "translate"}
INSTANT_AD_TYPE = "instant-ad"  # builtin/instant-ad's type (engines/builtin/compositions)
# Plural keys of ``used`` in GET /api/usage (the seed shows ``"images"``).
USAGE_KEYS: dict[str, str] = {"image": "images", "video": "videos", "speech": "voice"}
# Seed 001 polls until completed or failed: MediaStudio's other ends are said as those.
SEED_STATUS: dict[str, str] = {"partially_completed": "completed", "cancelled": "failed"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageRequest(_Strict):
    prompt: str = Field(min_length=1, max_length=2000)
    width: int | None = Field(None, ge=256, le=2048)
    height: int | None = Field(None, ge=256, le=2048)
    steps: int | None = Field(None, ge=1, le=50)
    seed: int | None = Field(None, ge=0)
    style: Literal["photorealistic", "illustration", "3d", "flat"] | None = None
    model: str | None = Field(None, max_length=200)
    negativePrompt: str | None = Field(None, max_length=2000)


class VideoRequest(_Strict):
    script: str = Field(min_length=1, max_length=5000)
    duration: int | None = Field(None, ge=3, le=60)
    resolution: Literal["720p", "1080p"] | None = None
    style: Literal["professional", "casual", "energetic"] | None = None
    model: str | None = Field(None, max_length=200)


class TextToVideoRequest(_Strict):
    script: str = Field(min_length=1, max_length=5000)
    duration: int | None = Field(None, ge=1, le=60)
    resolution: Literal["720p", "1080p"] | None = None
    style: Literal["cinematic", "documentary", "animation", "aerial"] | None = None
    model: str | None = Field(None, max_length=200)


class BRollRequest(_Strict):
    prompt: str = Field(min_length=1, max_length=2000)
    duration: int | None = Field(None, ge=3, le=6)
    resolution: Literal["480p", "720p"] | None = None
    model: str | None = Field(None, max_length=200)


class ClipRequest(_Strict):
    sourceVideoUrl: str = Field(min_length=1, max_length=2048)
    maxClips: int | None = Field(None, ge=1, le=20)
    minDuration: float | None = Field(None, ge=1, le=180)
    maxDuration: float | None = Field(None, ge=1, le=180)
    addCaptions: bool | None = None
    aspectRatio: Literal["9:16", "1:1", "16:9"] | None = None
    viralScoreThreshold: float | None = Field(None, ge=1, le=10)


class VoiceRequest(_Strict):
    text: str = Field(min_length=1, max_length=10_000)
    voiceId: str | None = Field(None, max_length=100)
    speed: float | None = Field(None, ge=0.5, le=2.0)
    language: str | None = Field(None, min_length=2, max_length=16)
    model: str | None = Field(None, max_length=200)


class Queued(BaseModel):
    jobId: str
    status: str
    message: str
    estimatedMinutes: int | None = None


class Job(BaseModel):
    jobId: str
    type: str
    status: str
    outputUrl: str | None
    outputUrls: list[str]
    outputType: str | None
    metadata: dict[str, Any]
    error: str | None
    creditsCharged: int
    creditsRefunded: int
    sandbox: bool
    createdAt: str
    completedAt: str | None


class SettingsRequest(_Strict):
    webhookUrl: str | None = Field(max_length=2048)


class KeyCreateRequest(_Strict):
    name: str = Field(min_length=1, max_length=100)


class AvatarRequest(_Strict):
    image: str = Field(min_length=1, max_length=2048)
    resolution: Literal["480p", "720p", "1080p"]
    model: str = Field(min_length=1, max_length=200)
    audio: str | None = Field(None, min_length=1, max_length=2048)
    text: str | None = Field(None, min_length=1, max_length=10_000)
    voiceId: str | None = Field(None, max_length=100)


class TranslateRequest(_Strict):
    videoUrl: str = Field(min_length=1, max_length=2048)
    outputLanguage: str = Field(min_length=2, max_length=16)
    preserveOriginalVoice: bool | None = None


class CommercialRequest(_Strict):
    product: str = Field(min_length=1, max_length=120)
    platform: Literal["tiktok", "youtube", "instagram", "tv"]
    duration: Literal[15, 30, 60]
    tone: Literal["professional", "energetic", "casual", "luxury", "funny"]
    targetAudience: str | None = Field(None, min_length=1, max_length=120)
    spokespersonImage: str | None = Field(None, min_length=1, max_length=2048)
    productImages: list[str] | None = Field(None, max_length=10)
    voiceId: str | None = Field(None, max_length=100)
    voiceModel: str | None = Field(None, max_length=200)
    musicMood: str | None = Field(None, max_length=100)
    videoModel: str | None = Field(None, max_length=200)


class VoiceCloneRequest(_Strict):
    name: str = Field(min_length=1, max_length=100)
    sampleAudioUrl: str = Field(min_length=1, max_length=2048)
    # Not in the seed: MediaStudio clones a voice only on the caller's explicit statement that
    # they own it or have its speaker's consent (docs/compat.md).
    consent: bool | None = None


class PhotoshootRequest(_Strict):
    productImage: str = Field(min_length=1, max_length=2048)
    background: Literal["studio-white", "lifestyle", "outdoor", "flat-lay", "custom"]
    angle: Literal["front", "hero", "45-degree", "top-down", "lifestyle"]
    lighting: Literal["studio", "natural", "dramatic", "soft", "golden-hour"]
    count: int = Field(ge=1, le=4)
    customBackground: str | None = Field(None, min_length=1, max_length=500)
    model: str | None = Field(None, max_length=200)


class InstantAdRequest(_Strict):
    websiteUrl: str = Field(min_length=1, max_length=2048)
    platform: Literal["tiktok", "youtube", "instagram", "facebook", "linkedin"]
    count: int = Field(ge=1, le=4)
    style: Literal["modern", "bold", "minimal", "luxury", "playful"]
    outputFormat: Literal["image", "video", "both"] | None = None
    brandProfileId: str | None = Field(None, max_length=200)
