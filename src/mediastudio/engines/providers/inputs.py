"""What provider-backed models accept: the standard inputs of ``engines/inputs.py`` (so the
typed ``/generate/{type}`` bodies and the sandbox twin work unchanged), with ``options`` for
whatever else the provider's model takes, and, for models reached generically, common fields
without defaults of ours (a field left out is not sent: the model's own default applies).

A curated model served by several providers also takes ``provider`` (run only there, seed
003's field) and ``fallback`` (false: fail at the first provider error instead of trying the
next route); see docs/providers.md#routing-and-failover."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from mediastudio.engines.inputs import (
    ImageAspect,
    ImageInput,
    StrictInput,
    VideoAspect,
    VideoInput,
)

OPTIONS_DESCRIPTION = (
    "More inputs for the provider's model, under the model's own names, sent as they are "
    "(the provider validates them); a field above wins over an option of the same name"
)
Options = dict[str, Any] | None
MAX_OPTIONS = 64
ProviderName = Literal["replicate", "fal"]


def options_field() -> Any:
    return Field(None, max_length=MAX_OPTIONS, description=OPTIONS_DESCRIPTION)


class RoutingFields(StrictInput):
    """How a request may steer a model's routes."""

    provider: ProviderName | None = Field(
        None,
        description="Run only on this provider (its routes alone; no failover to another one)",
    )
    fallback: bool = Field(
        True,
        description="When a provider fails (5xx, timeout, rate limit), try the model's next "
        "provider; false fails the job at the first error",
    )


# The curated models ----------------------------------------------------------------------------


class ZImageTurboInput(ImageInput, RoutingFields):
    negative_prompt: None = Field(None, description="Not supported by this model")
    num_outputs: int = Field(1, ge=1, le=1, description="One image per generation")
    options: Options = options_field()


# Hailuo renders 1080p in 6 s clips only (10 s clips are 768p).
HAILUO_1080P_MAX_S = 6


class HailuoInput(VideoInput, RoutingFields):
    resolution: Literal["768p", "1080p"] | None = Field(
        None,
        description="Frame size class: 768p (Hailuo's default) or 1080p (6 s clips only)",
    )
    options: Options = options_field()

    @model_validator(mode="after")
    def _1080p_is_6_s(self) -> Self:
        if self.resolution == "1080p" and self.duration > HAILUO_1080P_MAX_S:
            raise ValueError("Hailuo renders 1080p in 6 s clips only: give a duration of 6 or less")
        return self


class FluxSchnellInput(ImageInput, RoutingFields):
    negative_prompt: None = Field(None, description="Not supported by this model")
    # What every route writes (fal's FLUX schnell writes no WebP).
    output_format: Literal["png", "jpg"] = Field("png", description="File format")
    options: Options = options_field()


# Any model of a provider (replicate/<owner>/<name>) ---------------------------------------------


class GenericImageInput(StrictInput):
    prompt: str | None = Field(None, min_length=1, max_length=2000, description="What to draw")
    negative_prompt: str | None = Field(None, max_length=2000, description="What to avoid")
    aspect_ratio: ImageAspect | None = Field(None, description="Shape of the image")
    width: int | None = Field(None, ge=64, le=4096, description="Width in pixels")
    height: int | None = Field(None, ge=64, le=4096, description="Height in pixels")
    output_format: Literal["webp", "png", "jpg"] | None = Field(None, description="File format")
    num_outputs: int | None = Field(None, ge=1, le=4, description="How many images to make")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Fixes the randomness")
    options: Options = options_field()


class GenericVideoInput(StrictInput):
    prompt: str | None = Field(None, min_length=1, max_length=2000, description="The scene")
    negative_prompt: str | None = Field(None, max_length=2000, description="What to avoid")
    duration: int | None = Field(None, ge=1, le=60, description="Length in seconds")
    aspect_ratio: VideoAspect | None = Field(None, description="Shape of the frame")
    first_frame_image: str | None = Field(
        None, max_length=8_000_000, description="Image to start from: a URL or an upload's id"
    )
    fps: int | None = Field(None, ge=8, le=60, description="Frames per second")
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    options: Options = options_field()


class GenericSpeechInput(StrictInput):
    text: str | None = Field(None, min_length=1, max_length=10_000, description="What to say")
    voice: str | None = Field(None, max_length=100, description="The model's voice id")
    speed: float | None = Field(None, ge=0.25, le=4.0, description="Speaking rate")
    language: str | None = Field(None, min_length=2, max_length=16, description="Language code")
    output_format: Literal["mp3", "wav", "ogg"] | None = Field(None, description="File format")
    options: Options = options_field()


class GenericMusicInput(StrictInput):
    prompt: str | None = Field(None, min_length=1, max_length=2000, description="The music")
    duration: int | None = Field(None, ge=1, le=600, description="Length in seconds")
    output_format: Literal["mp3", "wav"] | None = Field(None, description="File format")
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    options: Options = options_field()


GENERIC_INPUTS: dict[str, type[StrictInput]] = {
    "image": GenericImageInput,
    "video": GenericVideoInput,
    "speech": GenericSpeechInput,
    "music": GenericMusicInput,
}
