"""What provider-backed models accept: the standard inputs of ``engines/inputs.py`` (so the
typed ``/generate/{type}`` bodies and the sandbox twin work unchanged), with ``options`` for
whatever else the provider's model takes, and, for models reached generically, common fields
without defaults of ours (a field left out is not sent: the model's own default applies).

A curated model served by several providers also takes ``provider`` (run only there, seed
003's field) and ``fallback`` (false: fail at the first provider error instead of trying the
next route); see docs/providers/routing.md."""

from __future__ import annotations

import math
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from mediastudio.engines.inputs import (
    ImageAspect,
    ImageEditInput,
    ImageInput,
    StrictInput,
    VideoAspect,
    VideoInput,
)
from mediastudio.engines.schema import JsonSchema

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


# With an input image, FLUX.1 Kontext [pro] takes a safety tolerance of 2 at most (Replicate:
# 0-6, "2 is currently the maximum allowed when input images are used"; fal: "1"-"6").
KONTEXT_MAX_SAFETY_TOLERANCE = 2


class FluxKontextInput(ImageEditInput, RoutingFields):
    # What both routes write: Replicate's kontext-pro writes png or jpg, fal's jpeg or png.
    output_format: Literal["png", "jpg"] = Field("png", description="File format")
    safety_tolerance: int | None = Field(
        None,
        ge=1,
        le=KONTEXT_MAX_SAFETY_TOLERANCE,
        description="1 is the strictest moderation; 2 (the model's default) the most lenient "
        "allowed when editing an image",
    )
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


# OpenAI's models (one provider each: no routing fields) -----------------------------------------

# The voices of OpenAI's speech API (its reference, and the official client's ``Voice`` type);
# ballad and verse are gpt-4o-mini-tts's alone.
OPENAI_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "onyx",
    "nova",
    "sage",
    "shimmer",
    "verse",
)
OPENAI_TTS_1_VOICES = tuple(v for v in OPENAI_VOICES if v not in ("ballad", "verse"))
OpenAIVoice = Literal[
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse"
]
# OpenAI's own input limit of /audio/speech.
OPENAI_SPEECH_MAX_CHARS = 4096


class GptImageInput(ImageInput):
    """gpt-image-1.5 (and the retired gpt-image-1): sizes 1024x1024, 1536x1024 and 1024x1536
    (the nearest to the shape asked for), 1 to 4 images, PNG, JPEG or WebP; no seed and no
    negative prompt."""

    negative_prompt: None = Field(None, description="Not supported by this model")
    seed: None = Field(None, description="Not supported by this model")
    options: Options = options_field()


# gpt-image-2's sizes (the official client's ImageGenerateParams.size): any WIDTHxHEIGHT with
# both sides divisible by 16, an aspect ratio between 1:3 and 3:1, at most 3840x2160 (above
# 2560x1440 is "experimental"). An aspect ratio alone gets about a megapixel, as the GPT image
# models' standard sizes have.
GPT_IMAGE_2_STEP = 16
GPT_IMAGE_2_MAX_EDGE = 3840
GPT_IMAGE_2_MAX_PIXELS = 3840 * 2160
GPT_IMAGE_2_MAX_RATIO = 3.0
GPT_IMAGE_2_AREA = 1024 * 1024


def _multiple_of_16(side: float) -> int:
    return max(GPT_IMAGE_2_STEP, GPT_IMAGE_2_STEP * round(side / GPT_IMAGE_2_STEP))


class GptImage2Input(GptImageInput):
    """gpt-image-2: the size asked for, made a valid one (:meth:`size`): ``width``/``height``
    each rounded to a multiple of 16, or an ``aspect_ratio`` at about a megapixel."""

    width: int | None = Field(
        None, ge=256, le=GPT_IMAGE_2_MAX_EDGE, description="Width in pixels (rounded to 16)"
    )
    height: int | None = Field(
        None, ge=256, le=GPT_IMAGE_2_MAX_EDGE, description="Height in pixels (rounded to 16)"
    )

    def size(self) -> tuple[int, int]:
        """The ``WIDTHxHEIGHT`` sent to OpenAI, which is the image's exact size."""
        if self.width is not None or self.height is not None:
            width, height = self.dimensions()
            return _multiple_of_16(width), _multiple_of_16(height)
        across, down = (int(part) for part in (self.aspect_ratio or "1:1").split(":"))
        ratio = across / down
        return (
            _multiple_of_16(math.sqrt(GPT_IMAGE_2_AREA * ratio)),
            _multiple_of_16(math.sqrt(GPT_IMAGE_2_AREA / ratio)),
        )

    @classmethod
    def schema_rules(cls) -> list[JsonSchema]:
        rule = {
            "description": "width/height: an aspect ratio between 1:3 and 3:1, at most "
            "3840x2160 pixels (8294400)"
        }
        return [*super().schema_rules(), rule]

    @model_validator(mode="after")
    def _gpt_image_2_size(self) -> Self:
        width, height = self.size()
        if max(width, height) / min(width, height) > GPT_IMAGE_2_MAX_RATIO:
            raise ValueError(
                f"gpt-image-2 takes an aspect ratio between 1:3 and 3:1, not {width}x{height}"
            )
        if width * height > GPT_IMAGE_2_MAX_PIXELS:
            raise ValueError(
                f"gpt-image-2 makes at most 3840x2160 pixels ({GPT_IMAGE_2_MAX_PIXELS}), not "
                f"{width}x{height}"
            )
        return self


class GptImageEditInput(ImageEditInput):
    """OpenAI's image edits (``POST /images/edits``) with a GPT image model: the nearest of
    1024x1024, 1536x1024 and 1024x1536 to the shape asked for (else the input image's), 1 to 4
    images, PNG, JPEG or WebP; no seed."""

    seed: None = Field(None, description="Not supported by this model")
    num_outputs: int = Field(1, ge=1, le=4, description="How many images to make")
    mask: str | None = Field(
        None,
        min_length=1,
        max_length=8_000_000,
        description=(
            "A PNG of the image's size whose fully transparent pixels mark where to edit "
            "(an upload's id, a URL or a data: URI); default: the model decides"
        ),
    )
    quality: Literal["low", "medium", "high", "auto"] | None = Field(
        None, description="Rendering quality; default: OpenAI's (auto)"
    )
    input_fidelity: Literal["low", "high"] | None = Field(
        None, description="How closely to keep the input's features (faces, logos); default low"
    )
    options: Options = options_field()


class DallE3Input(ImageInput):
    """dall-e-3: one PNG per request, at 1024x1024, 1792x1024 or 1024x1792."""

    negative_prompt: None = Field(None, description="Not supported by this model")
    seed: None = Field(None, description="Not supported by this model")
    num_outputs: int = Field(1, ge=1, le=1, description="One image per generation")
    output_format: Literal["png"] = Field("png", description="dall-e-3 writes PNG only")
    options: Options = options_field()


class OpenAISpeechInput(StrictInput):
    """OpenAI's neural speech (``POST /audio/speech``)."""

    text: str = Field(
        min_length=1, max_length=OPENAI_SPEECH_MAX_CHARS, description="What to say (4096 at most)"
    )
    voice: OpenAIVoice = Field("alloy", description="One of OpenAI's voices (GET /voices)")
    speed: float = Field(1.0, ge=0.25, le=4.0, description="Speaking rate, 1.0 is normal")
    language: str = Field(
        "en",
        min_length=2,
        max_length=16,
        description="Not sent: OpenAI's voices speak the language of the text",
    )
    output_format: Literal["mp3", "wav", "ogg", "flac", "aac"] = Field(
        "mp3", description="File format (ogg is OpenAI's Ogg/Opus)"
    )
    instructions: str | None = Field(
        None,
        max_length=2000,
        description="How to speak (tone, accent, pace); gpt-4o-mini-tts only",
    )
    options: Options = options_field()


class Tts1Input(OpenAISpeechInput):
    instructions: None = Field(None, description="Not supported by tts-1 (gpt-4o-mini-tts only)")

    @model_validator(mode="after")
    def _tts_1_voice(self) -> Self:
        if self.voice not in OPENAI_TTS_1_VOICES:
            raise ValueError(
                f"tts-1 has no voice {self.voice!r}: ballad and verse are gpt-4o-mini-tts's"
            )
        return self


# ElevenLabs' models (one provider each: no routing fields) --------------------------------------

# A premade voice every ElevenLabs account has ("George", the official client's example).
ELEVENLABS_DEFAULT_VOICE = "JBFqnCBsd6RMkjVDRZzb"
# ElevenLabs bills by the character; a flat price per generation holds up to this many.
ELEVENLABS_MAX_CHARS = 5000


class ElevenLabsSpeechInput(StrictInput):
    """ElevenLabs' text to speech (``POST /v1/text-to-speech/{voice_id}``)."""

    text: str = Field(
        min_length=1, max_length=ELEVENLABS_MAX_CHARS, description="What to say (5000 at most)"
    )
    voice: str = Field(
        ELEVENLABS_DEFAULT_VOICE,
        pattern=r"^([A-Za-z0-9]{1,64}|voice_[0-9a-z]{26})$",
        description="An ElevenLabs voice id, or a voice_… the account cloned (POST /voices); "
        "GET /voices lists both",
    )
    speed: float | None = Field(
        None, ge=0.7, le=1.2, description="Speaking rate, 1.0 is normal (ElevenLabs: 0.7 to 1.2)"
    )
    language: str | None = Field(
        None,
        min_length=2,
        max_length=16,
        description="Not sent: eleven_multilingual_v2 speaks the language of the text",
    )
    output_format: Literal["mp3", "wav"] = Field(
        "mp3", description="File format: mp3 (44.1 kHz, 128 kb/s) or wav (24 kHz)"
    )
    stability: float | None = Field(
        None, ge=0, le=1, description="Lower: a broader emotional range; higher: steadier"
    )
    similarity_boost: float | None = Field(
        None, ge=0, le=1, description="How closely to keep to the original voice"
    )
    style: float | None = Field(
        None, ge=0, le=1, description="Style exaggeration of the voice (0: none)"
    )
    options: Options = options_field()


class ElevenFlashInput(ElevenLabsSpeechInput):
    language: str | None = Field(
        None,
        pattern=r"^[A-Za-z]{2}([-_][A-Za-z0-9]{2,8})?$",
        description="Language to enforce (ISO 639-1, sent as language_code); else the text's",
    )
