"""Our inputs as OpenAI's, and what OpenAI hands back for them (the output plans, the sandbox's
twin of each model), from the same helpers so the size sent and the size planned agree.

- Images: gpt-image-2 takes any ``WIDTHxHEIGHT`` within its limits, so the size asked for is
  sent as it is (rounded to multiples of 16; an aspect ratio alone at about a megapixel: see
  ``GptImage2Input.size``). gpt-image-1.5 (and the retired gpt-image-1 and dall-e-3) take a
  fixed set of sizes, so the shape asked for (``aspect_ratio``, or ``width``/``height``)
  becomes the size of the nearest aspect ratio — GPT image models: 1024x1024, 1536x1024,
  1024x1536; dall-e-3: 1024x1024, 1792x1024, 1024x1792. Either way the image is exactly the
  size sent. ``num_outputs`` is ``n``; ``output_format`` is the GPT models' ``output_format``
  (``jpg`` → ``jpeg``); dall-e-3 wrote PNG.
- Image edits (``POST /images/edits``, a GPT image model): the image (and the ``mask``) go as
  files; the size is the nearest of gpt-image-1's three to the shape asked for, else to the
  input image's; ``num_outputs`` is ``n``; ``quality`` and ``input_fidelity`` keep their names.
- Speech: ``text`` is ``input``, ``voice``, ``speed`` and ``instructions`` keep their names,
  ``output_format`` is ``response_format`` (``ogg`` → ``opus``, OpenAI's Ogg/Opus); ``language``
  is not sent (the voices speak the text's language).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mediastudio.engines.contract import InputFetcher, InvalidInput, PlannedOutput
from mediastudio.engines.inputs import ImageInput
from mediastudio.engines.media.audio import file_rate
from mediastudio.engines.media.files import content_type
from mediastudio.engines.media.images import read_header
from mediastudio.engines.providers.inputs import (
    DallE3Input,
    GptImage2Input,
    GptImageEditInput,
    GptImageInput,
    OpenAISpeechInput,
)
from mediastudio.engines.providers.media import image_type

GPT_IMAGE_SIZES = ((1024, 1024), (1536, 1024), (1024, 1536))
DALL_E_3_SIZES = ((1024, 1024), (1792, 1024), (1024, 1792))
SPEECH_FORMATS = {"mp3": "mp3", "wav": "wav", "ogg": "opus", "flac": "flac", "aac": "aac"}
# OpenAI's voices speak about 15 characters a second at speed 1.0 (measured: ~150 words a
# minute); the real length depends on the voice and the text, hence the wide tolerance.
CHARACTERS_PER_SECOND = 15.0
SPEECH_TOLERANCE = 0.5  # of the estimate, plus SPEECH_MIN_TOLERANCE_S
SPEECH_MIN_TOLERANCE_S = 1.0


def nearest_size(validated: ImageInput, sizes: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """The size among ``sizes`` whose aspect ratio is nearest the one asked for (in log terms,
    so 2:1 and 1:2 are as far from 1:1)."""
    width, height = validated.dimensions()
    wanted = math.log(width / height)
    return min(sizes, key=lambda size: abs(math.log(size[0] / size[1]) - wanted))


def nearest_to(
    sizes: tuple[tuple[int, int], ...], aspect_ratio: str | None, width: int, height: int
) -> tuple[int, int]:
    """The size among ``sizes`` nearest ``aspect_ratio``, else ``width`` x ``height``'s shape."""
    if aspect_ratio is not None:
        across, down = (int(part) for part in aspect_ratio.split(":"))
        wanted = math.log(across / down)
    else:
        wanted = math.log(width / height)
    return min(sizes, key=lambda size: abs(math.log(size[0] / size[1]) - wanted))


# The key under which the engine hands an edit's build the input image's upright size.
IMAGE_SIZE = "image_size"
# What OpenAI's edits read: the image as PNG, JPEG or WebP (no GIF), the mask as PNG only.
EDIT_TYPES = {"image_url": ("image/png", "image/jpeg", "image/webp"), "mask": ("image/png",)}


def edit_file_type(path: Path, field: str) -> str:
    """The type of an edit's image or mask, refused (before any call) when OpenAI would."""
    media_type = image_type(path, field)
    allowed = EDIT_TYPES[field]
    if media_type not in allowed:
        names = " or ".join(kind.removeprefix("image/").upper() for kind in allowed)
        raise InvalidInput(f"OpenAI edits take the {field} as {names}, not {media_type}.")
    return media_type


def gpt_image_edit(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """The form fields of an edit besides ``model`` and the files; ``media[IMAGE_SIZE]`` is the
    input image's upright ``WxH`` (the engine read it), whose shape the size follows when no
    aspect ratio is asked for."""
    assert isinstance(validated, GptImageEditInput)
    image_width, image_height = (int(side) for side in media[IMAGE_SIZE].split("x"))
    width, height = nearest_to(GPT_IMAGE_SIZES, validated.aspect_ratio, image_width, image_height)
    fields: dict[str, Any] = {
        **(validated.options or {}),
        "prompt": validated.prompt,
        "n": validated.num_outputs,
        "size": f"{width}x{height}",
        "output_format": "jpeg" if validated.output_format == "jpg" else validated.output_format,
    }
    for name in ("quality", "input_fidelity"):
        value = getattr(validated, name)
        if value is not None:
            fields[name] = value
    return fields


def gpt_image(validated: BaseModel, media: object = None) -> dict[str, Any]:
    assert isinstance(validated, GptImageInput)
    width, height = nearest_size(validated, GPT_IMAGE_SIZES)
    return {
        **(validated.options or {}),
        "prompt": validated.prompt,
        "n": validated.num_outputs,
        "size": f"{width}x{height}",
        "output_format": "jpeg" if validated.output_format == "jpg" else validated.output_format,
    }


def gpt_image_2(validated: BaseModel, media: object = None) -> dict[str, Any]:
    """gpt-image-2: the exact size the input asks for (made valid by the input itself)."""
    assert isinstance(validated, GptImage2Input)
    width, height = validated.size()
    return {
        **(validated.options or {}),
        "prompt": validated.prompt,
        "n": validated.num_outputs,
        "size": f"{width}x{height}",
        "output_format": "jpeg" if validated.output_format == "jpg" else validated.output_format,
    }


def dall_e_3(validated: BaseModel, media: object = None) -> dict[str, Any]:
    assert isinstance(validated, DallE3Input)
    width, height = nearest_size(validated, DALL_E_3_SIZES)
    return {
        **(validated.options or {}),
        "prompt": validated.prompt,
        "n": 1,
        "size": f"{width}x{height}",
        # Bytes in the answer: nothing to fetch from a URL that expires in an hour.
        "response_format": "b64_json",
    }


def speech(validated: BaseModel, media: object = None) -> dict[str, Any]:
    assert isinstance(validated, OpenAISpeechInput)
    body: dict[str, Any] = {
        **(validated.options or {}),
        "input": validated.text,
        "voice": validated.voice,
        "speed": validated.speed,
        "response_format": SPEECH_FORMATS[validated.output_format],
    }
    if validated.instructions is not None:
        body["instructions"] = validated.instructions
    return body


# --- output plans ------------------------------------------------------------------------------


def gpt_image_plan(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """``num_outputs`` images of the nearest size, in the format asked for, opaque."""
    assert isinstance(validated, GptImageInput)
    width, height = nearest_size(validated, GPT_IMAGE_SIZES)
    image = PlannedOutput(content_type(validated.output_format), width=width, height=height)
    return [image] * validated.num_outputs


def gpt_image_2_plan(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """``num_outputs`` images of exactly the size sent, in the format asked for, opaque."""
    assert isinstance(validated, GptImage2Input)
    width, height = validated.size()
    image = PlannedOutput(content_type(validated.output_format), width=width, height=height)
    return [image] * validated.num_outputs


def gpt_image_edit_plan(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """``num_outputs`` images of the size the edit is sent with, in the format asked for."""
    assert isinstance(validated, GptImageEditInput)
    path = fetcher.fetch(validated.image_url)
    edit_file_type(path, "image_url")
    header = read_header(path)
    if validated.mask is not None:
        edit_file_type(fetcher.fetch(validated.mask), "mask")
    image_width, image_height = header.width, header.height
    width, height = nearest_to(GPT_IMAGE_SIZES, validated.aspect_ratio, image_width, image_height)
    image = PlannedOutput(content_type(validated.output_format), width=width, height=height)
    return [image] * validated.num_outputs


def dall_e_3_plan(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    assert isinstance(validated, DallE3Input)
    width, height = nearest_size(validated, DALL_E_3_SIZES)
    return [PlannedOutput("image/png", width=width, height=height)]


SPEECH_RATE = 24_000


def speech_seconds(text: str, speed: float) -> float:
    """About how long a voice takes to say ``text`` at ``speed``."""
    return max(0.5, len(text.strip()) / CHARACTERS_PER_SECOND / speed)


def speech_plan(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """One track in the format asked for, about as long as a voice takes to say the text."""
    assert isinstance(validated, OpenAISpeechInput)
    seconds = speech_seconds(validated.text, validated.speed)
    return [
        PlannedOutput(
            content_type(validated.output_format),
            duration_s=round(seconds, 3),
            duration_tolerance_s=SPEECH_MIN_TOLERANCE_S + SPEECH_TOLERANCE * seconds,
            # OpenAI's speech is mono at 24 kHz in every format (Opus: 48 kHz, as Opus always is).
            sample_rate=file_rate(validated.output_format, SPEECH_RATE),
            channels=1,
        )
    ]
