"""Our input fields under the names fal's models use (docs/providers/fal.md has the table).

fal's image models take a size as ``image_size`` (a preset name or ``{"width", "height"}``),
a count as ``num_images`` and JPEG as ``jpeg``; its video models take ``image_url`` for the
first frame and a duration as a string. Options go first and the mapped fields over them, so
a common field always means what the catalog says it means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from mediastudio.engines.inputs import ImageInput, VideoInput
from mediastudio.engines.providers.inputs import FluxKontextInput
from mediastudio.engines.providers.replicate.mapping import (
    FLUX_SIZES,
    flux_aspect,
    hailuo_duration,
    hailuo_resolution,
    has_no_first_frame,
)

SIZE_STEP = 16
MIN_SIDE = 64
_FORMATS = {"jpg": "jpeg", "png": "png", "webp": "webp"}


def _with_options(validated: BaseModel, mapped: dict[str, Any]) -> dict[str, Any]:
    options = getattr(validated, "options", None) or {}
    return {**options, **{name: value for name, value in mapped.items() if value is not None}}


def _image_size(width: int, height: int) -> dict[str, int]:
    def step(side: int) -> int:
        return max(MIN_SIDE, round(side / SIZE_STEP) * SIZE_STEP)

    return {"width": step(width), "height": step(height)}


def _format(ours: str | None, supported: tuple[str, ...]) -> str | None:
    """Our format under fal's name; one the model cannot write becomes PNG (lossless), and the
    output is stored as what it really is."""
    if ours is None:
        return None
    theirs = _FORMATS[ours]
    return theirs if theirs in supported else "png"


def z_image_turbo(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """fal-ai/z-image/turbo: prompt, image_size, num_images, output_format, seed."""
    assert isinstance(validated, ImageInput)
    mapped = {
        "prompt": validated.prompt,
        "image_size": _image_size(*validated.dimensions()),
        "num_images": validated.num_outputs,
        "output_format": _format(validated.output_format, ("jpeg", "png", "webp")),
        "seed": validated.seed,
    }
    return _with_options(validated, mapped)


def flux_schnell(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """fal-ai/flux/schnell: prompt, image_size (the size Replicate's FLUX renders for the same
    aspect ratio, so either route gives the same image size), num_images, output_format (JPEG
    or PNG), seed."""
    assert isinstance(validated, ImageInput)
    width, height = FLUX_SIZES[flux_aspect(validated)]
    mapped = {
        "prompt": validated.prompt,
        "image_size": {"width": width, "height": height},
        "num_images": validated.num_outputs,
        "output_format": _format(validated.output_format, ("jpeg", "png")),
        "seed": validated.seed,
    }
    return _with_options(validated, mapped)


def hailuo(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """fal-ai/minimax/hailuo-2.3(-fast)/standard/…: prompt, duration ("6" or "10"), and
    image_url for the first frame. Like Replicate's, the frame shape comes from the image (or
    is 16:9 from text); fps and seed have no equivalent."""
    assert isinstance(validated, VideoInput)
    mapped = {
        "prompt": validated.prompt,
        "duration": str(hailuo_duration(validated.duration)),
        "image_url": media.get("first_frame_image"),
    }
    return _with_options(validated, mapped)


def hailuo_pro(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """fal-ai/minimax/hailuo-2.3(-fast)/pro/…: the 1080p endpoints, whose clips are always
    6 s (they take no duration): prompt, and image_url for the first frame."""
    assert isinstance(validated, VideoInput)
    mapped = {"prompt": validated.prompt, "image_url": media.get("first_frame_image")}
    return _with_options(validated, mapped)


def has_first_frame_and_prompt(validated: BaseModel) -> bool:
    """fal's Hailuo image-to-video needs a prompt as well as the image."""
    return (
        getattr(validated, "first_frame_image", None) is not None
        and getattr(validated, "prompt", None) is not None
    )


def is_1080p(validated: BaseModel) -> bool:
    """fal serves Hailuo's resolutions on separate endpoints (standard 768p, pro 1080p), so
    the resolution picks the route (Replicate takes it as a field)."""
    assert isinstance(validated, VideoInput)
    return hailuo_resolution(validated) == "1080p"


def hailuo_image_768p(validated: BaseModel) -> bool:
    return has_first_frame_and_prompt(validated) and not is_1080p(validated)


def hailuo_image_1080p(validated: BaseModel) -> bool:
    return has_first_frame_and_prompt(validated) and is_1080p(validated)


def hailuo_text_768p(validated: BaseModel) -> bool:
    return has_no_first_frame(validated) and not is_1080p(validated)


def hailuo_text_1080p(validated: BaseModel) -> bool:
    return has_no_first_frame(validated) and is_1080p(validated)


# Any other endpoint (fal/<id>) -----------------------------------------------------------------

# Our common fields under the names most of fal's models use; those not listed keep our name.
GENERIC_RENAMES = {"num_outputs": "num_images"}
GENERIC_FIELDS = (
    "prompt",
    "negative_prompt",
    "aspect_ratio",
    "num_outputs",
    "seed",
    "duration",
    "fps",
    "text",
    "voice",
    "speed",
    "language",
)


def generic(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """Any other endpoint: the common fields the request gave under fal's usual names
    (``num_images``, ``image_size`` from width and height, ``jpeg``, ``image_url`` for the
    first frame), and the options."""
    mapped = {
        GENERIC_RENAMES.get(name, name): getattr(validated, name, None) for name in GENERIC_FIELDS
    }
    width, height = getattr(validated, "width", None), getattr(validated, "height", None)
    if width is not None or height is not None:
        mapped["image_size"] = {"width": width or height, "height": height or width}
    output_format = getattr(validated, "output_format", None)
    if output_format is not None:
        mapped["output_format"] = _FORMATS.get(output_format, output_format)
    if "first_frame_image" in media:
        mapped["image_url"] = media["first_frame_image"]
    return _with_options(validated, mapped)


def flux_kontext(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """fal-ai/flux-pro/kontext: prompt, image_url (a data: URI), aspect_ratio only when one is
    asked for (fal keeps the image's otherwise), output_format (jpeg or png), seed,
    safety_tolerance as fal's string ("1", "2"), one image."""
    assert isinstance(validated, FluxKontextInput)
    tolerance = validated.safety_tolerance
    mapped = {
        "prompt": validated.prompt,
        "image_url": media.get("image_url"),
        "aspect_ratio": validated.aspect_ratio,
        "output_format": _format(validated.output_format, ("jpeg", "png")),
        "seed": validated.seed,
        "safety_tolerance": str(tolerance) if tolerance is not None else None,
        "num_images": 1,
    }
    return _with_options(validated, mapped)
