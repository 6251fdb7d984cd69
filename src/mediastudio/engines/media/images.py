"""Reading user images safely and writing image outputs.

Pillow's own decompression-bomb guard is a warning at 89 Mpx; here every decode is bounded by an
explicit pixel budget checked from the header *before* the pixels are decoded, and anything
Pillow cannot read becomes :class:`InvalidInput` (the user's file is the problem, not the worker).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from mediastudio.engines.contract import InvalidInput, OutputFile, PlannedOutput, RunContext
from mediastudio.engines.media.files import atomic_target, content_type
from mediastudio.engines.media.image_structure import Incomplete, check_whole

ImageFormat = Literal["png", "webp", "jpg"]
MAX_INPUT_PIXELS = 40_000_000  # 40 Mpx: a 7700x5200 photo; 160 MB as RGBA in memory
MAX_OUTPUT_PIXELS = 64_000_000
_PIL_FORMATS = {"png": "PNG", "webp": "WEBP", "jpg": "JPEG"}
_SAVE_OPTIONS: dict[str, dict[str, object]] = {
    "webp": {"quality": 90, "method": 4},
    "jpg": {"quality": 92, "optimize": True},
    "png": {"optimize": False, "compress_level": 6},
}


DECODE_BYTES_PER_PIXEL = 12  # measured 8 (decoded pixels + one converted copy); RGBA needs more


# EXIF orientations that turn the picture a quarter (transposed, rotated 90 or 270 degrees).
_QUARTER_TURNS = frozenset({5, 6, 7, 8})
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class VerifiedImage:
    """An image file proven whole: its format (Pillow's name) and upright size."""

    format: str
    width: int
    height: int


@dataclass(frozen=True)
class ImageHeader:
    """What :func:`open_image` would give, known without decoding the picture: its upright size
    and whether it has real transparency (an alpha channel that is not opaque everywhere)."""

    width: int
    height: int
    transparent: bool


@dataclass(frozen=True)
class MemoryBudget:
    """The working memory one job may spend on an image, and what processing it costs.

    ``work_bytes_per_pixel`` is the operation's own peak per pixel it works on (measured: see
    docs/benchmarks.md), on top of :data:`DECODE_BYTES_PER_PIXEL` per pixel decoded. ``setting``
    names where an operator raises ``limit_bytes``, so a refusal says what to change.
    """

    limit_bytes: int
    work_bytes_per_pixel: int = 0
    setting: str = ""

    def needed(self, decoded_pixels: int, working_pixels: int) -> int:
        return DECODE_BYTES_PER_PIXEL * decoded_pixels + self.work_bytes_per_pixel * working_pixels

    def check(self, size: tuple[int, int], decoded_pixels: int, working_pixels: int) -> None:
        needed = self.needed(decoded_pixels, working_pixels)
        if needed > self.limit_bytes:
            where = f" ({self.setting})" if self.setting else ""
            raise InvalidInput(
                f"The image is {size[0]}x{size[1]}: this operation would need about "
                f"{_mib(needed)} MiB of memory, more than the {_mib(self.limit_bytes)} MiB this "
                f"server allows an image job{where}. Send a smaller image."
            )


@contextmanager
def _opened(path: Path, max_pixels: int) -> Iterator[Image.Image]:
    """The image at ``path``, opened lazily (header only) and checked against ``max_pixels``;
    every reading error becomes :class:`InvalidInput`."""
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
                yield probe
    except InvalidInput:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidInput("The file is not an image this server can read.") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidInput(f"The image could not be decoded: {exc}") from exc


def open_image(
    path: Path,
    *,
    max_pixels: int = MAX_INPUT_PIXELS,
    mode: str = "RGB",
    max_side: int | None = None,
    budget: MemoryBudget | None = None,
) -> Image.Image:
    """Decode ``path`` into a fully loaded image in ``mode`` (``RGB`` or ``RGBA``), upright per
    its EXIF orientation. Refuses images over ``max_pixels``, or whose processing would pass
    ``budget``, before decoding their pixels.

    With ``max_side`` the image comes back no longer than that on either side, and is decoded
    at the size needed where the format allows (JPEG decodes at 1/2, 1/4 or 1/8 scale); other
    formats are decoded whole and reduced at once, before any copy is made."""
    with _opened(path, max_pixels) as probe:
        width, height = probe.size
        target = _fitted((width, height), max_side)
        if target != (width, height):
            probe.draft(None, target)  # a no-op for formats that cannot decode smaller
        if budget is not None:
            decoded = probe.size[0] * probe.size[1]
            budget.check((width, height), decoded, min(decoded, target[0] * target[1]))
        return _decoded(probe, mode, max_side)


def read_header(path: Path, *, max_pixels: int = MAX_INPUT_PIXELS) -> ImageHeader:
    """The upright size and transparency of the image at ``path``, refusing what
    :func:`open_image` refuses. Only an image that declares alpha is decoded (to tell real
    transparency from an opaque alpha channel); any other is read from its header alone."""
    with _opened(path, max_pixels) as probe:
        width, height = probe.size
        if probe.getexif().get(_EXIF_ORIENTATION) in _QUARTER_TURNS:
            width, height = height, width
        declares_alpha = has_alpha(probe) or "transparency" in probe.info
        transparent = declares_alpha and _min_alpha(probe) < 255
        return ImageHeader(width, height, transparent)


def verify_image(path: Path, *, max_pixels: int = MAX_INPUT_PIXELS) -> VerifiedImage:
    """The format and upright size of the image at ``path``, refusing what :func:`open_image`
    refuses and a file that did not arrive whole. PNG, JPEG and WebP are proven whole from
    their structure (:mod:`~mediastudio.engines.media.image_structure`, a fraction of a
    decode); other formats have their (first frame's) pixels decoded in the file's own mode."""
    with _opened(path, max_pixels) as probe:
        width, height = probe.size
        if _header_orientation(probe) in _QUARTER_TURNS:
            width, height = height, width
        image_format = probe.format or ""
        try:
            if not check_whole(path, image_format):
                probe.load()
        except Incomplete as exc:
            raise InvalidInput(f"The image is incomplete: {exc}") from exc
        except (OSError, ValueError, SyntaxError) as exc:
            raise InvalidInput(f"The image could not be decoded: {exc}") from exc
        return VerifiedImage(image_format, width, height)


def _header_orientation(probe: Image.Image) -> int | None:
    """The EXIF orientation, read without decoding: Pillow's ``getexif`` on a PNG decodes the
    whole picture to look for an ``eXIf`` chunk after the pixels; here a PNG's orientation is
    the one of an ``eXIf`` chunk before them (where the PNG specification asks it to be)."""
    if probe.format == "PNG":
        raw = probe.info.get("exif")
        if not isinstance(raw, bytes):
            return None
        exif = Image.Exif()
        exif.load(raw)
        return exif.get(_EXIF_ORIENTATION)
    return probe.getexif().get(_EXIF_ORIENTATION)


def _min_alpha(image: Image.Image) -> int:
    low, _ = image.convert("RGBA").getchannel("A").getextrema()
    return int(low)  # type: ignore[arg-type]  # one band: (min, max) of ints


def _decoded(probe: Image.Image, mode: str, max_side: int | None) -> Image.Image:
    if max_side is not None and max(probe.size) > max_side:
        # In place, so no full-size copy: a box reduce by a whole factor, then Lanczos.
        probe.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    ImageOps.exif_transpose(probe, in_place=True)
    converted = probe.convert(mode)
    converted.load()
    return converted


def _fitted(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """``size`` scaled down (never up) so that neither side passes ``max_side``."""
    width, height = size
    if max_side is None or max(width, height) <= max_side:
        return size
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f}"


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


def planned_image(
    image_format: ImageFormat, width: int, height: int, *, alpha: bool, **extra: object
) -> PlannedOutput:
    """The plan of what :func:`add_image_output` will hand over for an image of that size and
    transparency (JPEG flattens alpha, as :func:`save_image` does)."""
    return PlannedOutput(
        content_type(image_format),
        width=width,
        height=height,
        has_alpha=alpha and image_format != "jpg",
        extra=dict(extra),
    )
