"""Product photo presets (seed 004), built from the image operations in :mod:`.ops`.

Each preset turns one product photo into one finished image; no job context here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from PIL import Image

from mediastudio.engines.builtin.image_tools import ops

PresetId = Literal[
    "single_product_white_background",
    "marketplace_square",
    "lifestyle_neutral_backdrop",
    "brightness_color_normalization",
]


class NoProductFound(ValueError):
    """The cut-out found no object to place (a blank or busy photo)."""


# The smallest square canvas of each cut-out preset; a larger photo keeps its long side (up to
# MAX_CANVAS). Colour normalisation keeps the photo's own size (no canvas).
WHITE_CANVAS = 800
MARKETPLACE_CANVAS = 1000
LIFESTYLE_CANVAS = 800
MAX_CANVAS = 2000


@dataclass(frozen=True)
class Preset:
    """``max_side``: the longest input side the preset can use (a larger photo is decoded
    smaller: the result is the same); ``work_bytes_per_pixel``: its measured peak memory per
    pixel it works on, beyond the decoded photo."""

    id: PresetId
    name: str
    description: str
    apply: Callable[[Image.Image], Image.Image]
    canvas: int | None  # the smallest square canvas side; None keeps the photo's size
    max_side: int | None = None
    work_bytes_per_pixel: int = 0

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """The size ``apply`` gives a ``width x height`` photo (known without running it)."""
        if self.canvas is None:
            return width, height
        side = canvas_side(width, height, self.canvas)
        return side, side


def normalise(rgb: ops.U8) -> ops.U8:
    """Brightness and colour normalisation: a gray-world white balance (at most ±15 % per
    channel, so a product's own colour is not neutralised), auto levels, then, for an underexposed
    photo, a gamma that lifts the median lightness towards mid-grey."""
    means = np.asarray(cv2.mean(rgb)[:3], np.float32) + 1e-3
    gains = np.clip(means.mean() / means, 0.85, 1.15)
    # One table per channel: no float copy of the photo.
    values = np.arange(256, dtype=np.float32)[:, None]
    table = np.asarray(np.clip(values * gains, 0, 255), np.uint8).reshape(256, 1, 3)
    balanced = np.asarray(cv2.LUT(rgb, table), np.uint8)
    levelled = ops.auto_levels(balanced)
    del balanced
    median = float(np.median(cv2.cvtColor(levelled, cv2.COLOR_RGB2GRAY))) / 255
    # Only brighten: a product on a light backdrop already has a bright median.
    gamma = float(np.clip(np.log(0.5) / np.log(min(max(median, 0.05), 0.95)), 0.6, 1.0))
    table = np.clip(255 * (np.arange(256) / 255) ** gamma + 0.5, 0, 255).astype(np.uint8)
    return np.asarray(cv2.LUT(levelled, table), np.uint8)


def _cutout(image: Image.Image) -> Image.Image:
    """The product, normalised, cropped to its own bounding box, as RGBA."""
    rgb = normalise(ops.as_array(image))
    mask = ops.foreground_mask(ops.as_array(image))
    if mask.sum() < 0.002 * mask.size:
        raise NoProductFound("No product was found in the image (it looks like a blank backdrop).")
    alpha = ops.feathered_alpha(mask)
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    return Image.fromarray(np.dstack([rgb, alpha]), "RGBA").crop(box)


def canvas_side(width: int, height: int, minimum: int) -> int:
    return int(np.clip(max(width, height), minimum, MAX_CANVAS))


def _contact_shadow(side: int, left: int, bottom: int, width: int, strength: float) -> ops.F32:
    """A soft elliptical shadow under the product's foot: darkness 0..``strength`` per pixel."""
    shadow = np.zeros((side, side), np.float32)
    centre = (left + width // 2, min(side - 1, bottom))
    axes = (max(1, int(width * 0.45)), max(1, int(width * 0.06)))
    cv2.ellipse(shadow, centre, axes, 0, 0, 360, 1.0, -1)
    blur = max(1.0, width * 0.05)
    return np.asarray(cv2.GaussianBlur(shadow, (0, 0), blur) * strength, np.float32)


def _place(
    cutout: Image.Image,
    background: ops.F32,
    *,
    fill: float,
    shadow: float,
) -> Image.Image:
    """Centre ``cutout`` on ``background`` (a square float RGB canvas) so that its longer side
    spans ``fill`` of the canvas, with an optional soft contact shadow under it."""
    side = background.shape[0]
    scale = fill * side / max(cutout.size)
    size = (max(1, round(cutout.width * scale)), max(1, round(cutout.height * scale)))
    product = cutout.resize(size, Image.Resampling.LANCZOS)
    left, top = (side - size[0]) // 2, (side - size[1]) // 2
    canvas = background.copy()
    if shadow > 0:
        darkness = _contact_shadow(side, left, top + size[1], size[0], shadow)
        canvas *= (1 - darkness)[..., None]
    pixels = np.asarray(product, np.float32)
    alpha = pixels[..., 3:4] / 255
    region = canvas[top : top + size[1], left : left + size[0]]
    region[:] = pixels[..., :3] * alpha + region * (1 - alpha)
    return ops.as_image(canvas + 0.5)


def white_background(image: Image.Image) -> Image.Image:
    cutout = _cutout(image)
    side = canvas_side(image.width, image.height, WHITE_CANVAS)
    white = np.full((side, side, 3), 255, np.float32)
    return _place(cutout, white, fill=0.8, shadow=0.35)


def marketplace_square(image: Image.Image) -> Image.Image:
    cutout = _cutout(image)
    side = canvas_side(image.width, image.height, MARKETPLACE_CANVAS)
    white = np.full((side, side, 3), 255, np.float32)
    return _place(cutout, white, fill=0.85, shadow=0.0)


def lifestyle_neutral(image: Image.Image) -> Image.Image:
    """A warm light-grey studio sweep: lighter behind the product, a floor that darkens towards
    the front, and a soft contact shadow."""
    cutout = _cutout(image)
    side = canvas_side(image.width, image.height, LIFESTYLE_CANVAS)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    wall, floor = np.array([236, 231, 224], np.float32), np.array([214, 207, 198], np.float32)
    t = np.clip((yy - 0.55) / 0.45, 0, 1)[..., None]
    backdrop = wall * (1 - t) + floor * t
    glow = 1 + 0.05 * np.exp(-(((xx - 0.5) / 0.35) ** 2 + ((yy - 0.45) / 0.35) ** 2))
    return _place(cutout, backdrop * glow[..., None], fill=0.7, shadow=0.4)


def colour_normalisation(image: Image.Image) -> Image.Image:
    return Image.fromarray(normalise(ops.as_array(image)), "RGB")


PRESETS: dict[str, Preset] = {
    preset.id: preset
    for preset in (
        Preset(
            "single_product_white_background",
            "Single product white background",
            "Best for one clear product: cut out, normalised, centred on a white square with "
            "10% padding and a soft contact shadow.",
            white_background,
            WHITE_CANVAS,
            max_side=MAX_CANVAS,
            work_bytes_per_pixel=85,
        ),
        Preset(
            "marketplace_square",
            "Marketplace square",
            "Marketplace listing rules: the product on pure white (255, 255, 255), no shadow, "
            "filling 85% of a square at least 1000 px wide.",
            marketplace_square,
            MARKETPLACE_CANVAS,
            max_side=MAX_CANVAS,
            work_bytes_per_pixel=80,
        ),
        Preset(
            "lifestyle_neutral_backdrop",
            "Lifestyle neutral backdrop",
            "The product on a warm light-grey studio sweep with a soft shadow, for banners and "
            "social posts.",
            lifestyle_neutral,
            LIFESTYLE_CANVAS,
            max_side=MAX_CANVAS,
            work_bytes_per_pixel=116,
        ),
        Preset(
            "brightness_color_normalization",
            "Brightness and colour normalisation",
            "Keeps the photo as it is (no cut-out, same size) and evens out white balance, "
            "levels and brightness, so a catalogue shot on different days looks consistent.",
            colour_normalisation,
            None,
            work_bytes_per_pixel=10,
        ),
    )
}
