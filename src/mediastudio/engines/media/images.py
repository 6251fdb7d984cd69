"""Reading user images safely and writing image outputs.

Pillow's own decompression-bomb guard is a warning at 89 Mpx; here every decode is bounded by an
explicit pixel budget checked from the header *before* the pixels are decoded, and anything
Pillow cannot read becomes :class:`InvalidInput` (the user's file is the problem, not the worker).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from mediastudio.engines.contract import InvalidInput, OutputFile, RunContext
from mediastudio.engines.media.files import atomic_target, content_type

ImageFormat = Literal["png", "webp", "jpg"]
MAX_INPUT_PIXELS = 40_000_000  # 40 Mpx: a 7700x5200 photo; 160 MB as RGBA in memory
MAX_OUTPUT_PIXELS = 64_000_000
_PIL_FORMATS = {"png": "PNG", "webp": "WEBP", "jpg": "JPEG"}
_SAVE_OPTIONS: dict[str, dict[str, object]] = {
    "webp": {"quality": 90, "method": 4},
    "jpg": {"quality": 92, "optimize": True},
    "png": {"optimize": False, "compress_level": 6},
}


def open_image(path: Path, *, max_pixels: int = MAX_INPUT_PIXELS, mode: str = "RGB") -> Image.Image:
    """Decode ``path`` into a fully loaded image in ``mode`` (``RGB`` or ``RGBA``), upright per
    its EXIF orientation. Refuses images over ``max_pixels`` before decoding their pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as probe:
                width, height = probe.size
                if width * height > max_pixels:
                    raise InvalidInput(
                        f"The image is {width}x{height}; at most {max_pixels:,} pixels are "
                        "accepted."
                    )
                probe.seek(0)  # the first frame of an animated image
                image = ImageOps.exif_transpose(probe)
                converted = image.convert(mode)
                converted.load()
                return converted
    except InvalidInput:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidInput("The file is not an image this server can read.") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidInput(f"The image could not be decoded: {exc}") from exc


def has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA")


def save_image(image: Image.Image, path: Path, image_format: ImageFormat) -> None:
    """Write atomically. JPEG cannot hold transparency, so alpha is flattened onto white."""
    if image_format not in _PIL_FORMATS:
        raise ValueError(f"unsupported image format: {image_format!r}")
    if image.width * image.height > MAX_OUTPUT_PIXELS:
        raise InvalidInput(f"The result would exceed {MAX_OUTPUT_PIXELS:,} pixels.")
    if image_format == "jpg" and image.mode != "RGB":
        image = flatten(image, (255, 255, 255))
    with atomic_target(path) as temporary:
        image.save(temporary, format=_PIL_FORMATS[image_format], **_SAVE_OPTIONS[image_format])


def flatten(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Composite an image with alpha over a solid colour; RGB images are returned as RGB."""
    if not has_alpha(image):
        return image.convert("RGB")
    base = Image.new("RGB", image.size, background)
    base.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
    return base


def add_image_output(
    ctx: RunContext, image: Image.Image, image_format: ImageFormat, **extra: object
) -> OutputFile:
    """Save ``image`` into the job's work directory and hand it over as an output."""
    path = ctx.output_path(f".{image_format}")
    save_image(image, path, image_format)
    output = OutputFile(
        path, content_type(image_format), width=image.width, height=image.height, extra=dict(extra)
    )
    ctx.add_output(output)
    return output
