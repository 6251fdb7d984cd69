"""Our input fields under the names Replicate's models use (docs/providers/replicate.md has
the table).

Options go first and the mapped fields over them, so a common field always means what the
catalog says it means.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from mediastudio.engines.contract import InvalidInput
from mediastudio.engines.inputs import ImageInput, VideoInput
from mediastudio.engines.providers.inputs import HAILUO_1080P_MAX_S, FluxKontextInput

# Diffusion models work in 16-pixel steps.
SIZE_STEP = 16
MIN_SIDE = 64
HAILUO_DURATIONS = (6, 10)  # seconds Hailuo renders; a request takes the nearest above
HAILUO_RESOLUTIONS = ("768p", "1080p")  # Replicate's values; 768p when none is sent


def _options(validated: BaseModel) -> dict[str, Any]:
    options = getattr(validated, "options", None)
    return options if isinstance(options, dict) else {}


def _with_options(validated: BaseModel, mapped: dict[str, Any]) -> dict[str, Any]:
    options = _options(validated)
    return {**options, **{name: value for name, value in mapped.items() if value is not None}}


def _step(side: int) -> int:
    return max(MIN_SIDE, round(side / SIZE_STEP) * SIZE_STEP)


def z_image_size(validated: ImageInput) -> tuple[int, int]:
    """The width and height sent to Z-Image, which draws exactly that size: the request's size
    (an aspect ratio is 1024 on the long side) in 16-pixel steps."""
    width, height = validated.dimensions()
    return _step(width), _step(height)


def z_image_turbo(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """prunaai/z-image-turbo: prompt, width, height, output_format, seed (no aspect ratio: it
    becomes a size, 1024 on the long side)."""
    assert isinstance(validated, ImageInput)
    width, height = z_image_size(validated)
    mapped = {
        "prompt": validated.prompt,
        "width": width,
        "height": height,
        "output_format": validated.output_format,
        "seed": validated.seed,
    }
    return _with_options(validated, mapped)


def hailuo_duration(seconds: int) -> int:
    return next((d for d in HAILUO_DURATIONS if seconds <= d), HAILUO_DURATIONS[-1])


def hailuo_resolution(validated: VideoInput) -> str:
    """What Hailuo renders this input at: the ``resolution`` field, else one in ``options``
    (sent as it is), else Hailuo's default, 768p. Refused here, before anything is submitted,
    where Hailuo would refuse it: an unknown value, or 1080p for a 10 s clip."""
    chosen = getattr(validated, "resolution", None) or _options(validated).get("resolution")
    chosen = chosen or HAILUO_RESOLUTIONS[0]
    if chosen not in HAILUO_RESOLUTIONS:
        raise InvalidInput(f"Hailuo's resolution is 768p or 1080p, not {chosen!r}.")
    if chosen == "1080p" and hailuo_duration(validated.duration) > HAILUO_1080P_MAX_S:
        raise InvalidInput("Hailuo renders 1080p in 6 s clips only: give a duration of 6 or less.")
    return str(chosen)


def hailuo(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """minimax/hailuo-2.3(-fast): prompt, duration (6 or 10 s), resolution (when given),
    first_frame_image. The frame shape comes from the first frame (or is Hailuo's 16:9 from
    text); fps and seed have no equivalent."""
    assert isinstance(validated, VideoInput)
    hailuo_resolution(validated)  # refused before submitting, as Hailuo would refuse it
    mapped = {
        "prompt": validated.prompt,
        "duration": hailuo_duration(validated.duration),
        "resolution": getattr(validated, "resolution", None),
        "first_frame_image": media.get("first_frame_image"),
    }
    return _with_options(validated, mapped)


def has_first_frame(validated: BaseModel) -> bool:
    return getattr(validated, "first_frame_image", None) is not None


def has_no_first_frame(validated: BaseModel) -> bool:
    return not has_first_frame(validated)


GENERIC_FIELDS = (
    "prompt",
    "negative_prompt",
    "aspect_ratio",
    "width",
    "height",
    "output_format",
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
    """Any other model: the common fields the request gave, under the same names (the names most
    Replicate models use), media made readable, and the options."""
    mapped = {name: getattr(validated, name, None) for name in GENERIC_FIELDS}
    mapped |= dict(media)
    return _with_options(validated, mapped)


# The aspect ratios black-forest-labs/flux-schnell takes, and the sizes it renders them at (one
# megapixel, 64-pixel steps): the curated FLUX schnell asks every provider for these sizes.
FLUX_SIZES = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "21:9": (1536, 640),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "4:5": (896, 1088),
    "5:4": (1088, 896),
    "3:4": (896, 1152),
    "4:3": (1152, 896),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
}


def nearest_aspect(width: int, height: int, choices: Iterable[str] = FLUX_SIZES) -> str:
    """The listed ratio closest to width:height (compared as logarithms, so 2:1 and 1:2 are as
    far from 1:1)."""

    def distance(choice: str) -> float:
        across, down = (int(part) for part in choice.split(":"))
        return abs(math.log((across / down) / (width / height)))

    return min(choices, key=distance)


def flux_aspect(validated: ImageInput) -> str:
    """The request's aspect ratio, or the one of FLUX's nearest its width and height."""
    return validated.aspect_ratio or nearest_aspect(*validated.dimensions())


def flux_schnell(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """black-forest-labs/flux-schnell: prompt, aspect_ratio (it takes no pixel size: a width and
    height become the nearest of its ratios), num_outputs, output_format, seed."""
    assert isinstance(validated, ImageInput)
    mapped = {
        "prompt": validated.prompt,
        "aspect_ratio": flux_aspect(validated),
        "num_outputs": validated.num_outputs,
        "output_format": validated.output_format,
        "seed": validated.seed,
    }
    return _with_options(validated, mapped)


# FLUX.1 Kontext ---------------------------------------------------------------------------------

# FLUX.1 Kontext's output frames (about a megapixel, sides in 16-pixel steps), as Black Forest
# Labs' Kontext pipeline picks them: the one whose shape is nearest the one asked for (the input
# image's with ``match_input_image``). Only BFL decides the pro model's exact frame, so the plan
# built on these is an estimate (docs/providers.md).
KONTEXT_SIZES = (
    (672, 1568),
    (688, 1504),
    (720, 1456),
    (752, 1392),
    (800, 1328),
    (832, 1248),
    (880, 1184),
    (944, 1104),
    (1024, 1024),
    (1104, 944),
    (1184, 880),
    (1248, 832),
    (1328, 800),
    (1392, 752),
    (1456, 720),
    (1504, 688),
    (1568, 672),
)
KONTEXT_MATCH_INPUT = "match_input_image"


def kontext_size(aspect_ratio: str | None, image_width: int, image_height: int) -> tuple[int, int]:
    """The frame Kontext renders for ``aspect_ratio`` (the input image's shape when None)."""
    if aspect_ratio is None:
        wanted = image_width / image_height
    else:
        across, down = (int(part) for part in aspect_ratio.split(":"))
        wanted = across / down
    return min(KONTEXT_SIZES, key=lambda size: abs(math.log(size[0] / size[1] / wanted)))


def flux_kontext(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """black-forest-labs/flux-kontext-pro: prompt, input_image (sent inline or stored with
    Replicate's file API), aspect_ratio (``match_input_image`` unless one is asked for),
    output_format (png or jpg), seed, safety_tolerance."""
    assert isinstance(validated, FluxKontextInput)
    mapped = {
        "prompt": validated.prompt,
        "input_image": media.get("image_url"),
        "aspect_ratio": validated.aspect_ratio or KONTEXT_MATCH_INPUT,
        "output_format": validated.output_format,
        "seed": validated.seed,
        "safety_tolerance": validated.safety_tolerance,
    }
    return _with_options(validated, mapped)
