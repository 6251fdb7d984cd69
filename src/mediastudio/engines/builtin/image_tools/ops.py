"""Pure image operations of the image tools: background removal, upscaling, transformations.

Functions on PIL images and NumPy arrays, with no job context, so the product presets reuse
them. Arrays are ``uint8`` RGB ``(h, w, 3)`` unless said otherwise. Classical computer vision
only (OpenCV and NumPy): no weights, deterministic.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]
Transformation = Literal[
    "grayscale", "sepia", "vintage", "cartoon", "pencil-sketch", "watercolor", "enhance"
]
TRANSFORMATIONS: tuple[Transformation, ...] = (
    "grayscale",
    "sepia",
    "vintage",
    "cartoon",
    "pencil-sketch",
    "watercolor",
    "enhance",
)

MASK_SIDE = 640  # background removal estimates its mask at most this large, then refines
UPSCALE_MAX_OUTPUT_PIXELS = 16_777_216  # 4096 x 4096

# Peak working memory of each operation, in bytes per pixel it works on, beyond the decoded
# image (charged separately): measured on 20 Mpx photos by benchmarks/image_memory.py, rounded
# up. The image tools refuse an input whose total would pass the job's memory budget.
REMOVE_BACKGROUND_BYTES_PER_PIXEL = 14
UPSCALE_BYTES_PER_OUTPUT_PIXEL = 70
TRANSFORM_BYTES_PER_PIXEL: dict[str, int] = {
    "grayscale": 8,
    "sepia": 8,
    "vintage": 6,
    "cartoon": 6,
    "pencil-sketch": 14,
    "watercolor": 6,
    "enhance": 30,
}


def as_array(image: Image.Image) -> U8:
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def as_image(array: NDArray[np.generic], mode: str = "RGB") -> Image.Image:
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), mode)


# Background removal --------------------------------------------------------------------------


def _border(shape: tuple[int, int], width: int) -> NDArray[np.bool_]:
    band = np.zeros(shape, dtype=bool)
    band[:width, :] = band[-width:, :] = True
    band[:, :width] = band[:, -width:] = True
    return band


def _background_model(lab: F32, border: NDArray[np.bool_]) -> tuple[F32, float]:
    """Fit each Lab channel of the border pixels as a quadratic surface in (x, y): a plain
    backdrop, a studio gradient or a vignette. Returns the modelled backdrop over the whole
    image and the robust spread of the border's residuals."""
    height, width = lab.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    xx, yy = xx / max(1, width - 1) - 0.5, yy / max(1, height - 1) - 0.5
    basis = np.stack([np.ones_like(xx), xx, yy, xx * xx, yy * yy, xx * yy], axis=-1)
    samples = lab[border]
    design = basis[border]
    coefficients = np.zeros((basis.shape[-1], 3), dtype=np.float32)
    # Twice: the second fit ignores border pixels far from the first (an object touching the
    # frame's edge must not bend the backdrop model).
    keep = np.ones(len(samples), dtype=bool)
    for _ in range(2):
        coefficients, *_ = np.linalg.lstsq(design[keep], samples[keep], rcond=None)
        residual = np.linalg.norm(samples - design @ coefficients, axis=1)
        spread = float(np.median(residual[keep])) * 1.4826 + 0.5
        keep = residual < max(6.0, 4 * spread)
        if keep.sum() < 16:
            keep[:] = True
            break
    model = (basis.reshape(-1, basis.shape[-1]) @ coefficients).reshape(lab.shape)
    return model.astype(np.float32), spread


def _difference(lab: F32, model: F32) -> F32:
    """How far each pixel is from the backdrop. Darker-only changes with the backdrop's own hue
    count for little (that is what a cast shadow looks like); brighter or differently coloured
    pixels count fully."""
    d_light = lab[..., 0] - model[..., 0]
    d_chroma = np.hypot(lab[..., 1] - model[..., 1], lab[..., 2] - model[..., 2])
    light_weight = np.where(d_light < 0, 0.2, 1.0).astype(np.float32)
    return np.asarray(np.hypot(d_light * light_weight, d_chroma * 1.5), dtype=np.float32)


def _keep_main_components(mask: NDArray[np.bool_], min_share: float = 0.15) -> NDArray[np.bool_]:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    if count <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= areas.max() * min_share) + 1
    return np.isin(labels, keep)


def _fill_holes(mask: NDArray[np.bool_], max_share: float = 0.25) -> NDArray[np.bool_]:
    """Fill enclosed holes smaller than ``max_share`` of the object: highlights and labels as
    light as the backdrop are part of the product. Larger holes (a ring's middle) stay
    see-through; a small see-through hole (a mug's handle) is filled too."""
    inverse = (~mask).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(inverse, connectivity=4)
    height, width = mask.shape
    limit = max_share * mask.sum()
    filled = mask.copy()
    for index in range(1, count):
        x, y, w, h, area = stats[index]
        touches_edge = x == 0 or y == 0 or x + w == width or y + h == height
        if not touches_edge and area <= limit:
            filled[labels == index] = True
    return filled


def foreground_mask(rgb: U8, *, iterations: int = 4) -> NDArray[np.bool_]:
    """The main object's mask for a product photo on a plain or studio background.

    1. model the backdrop from the border pixels in Lab (a quadratic surface per channel);
    2. threshold each pixel's distance from that model (cast shadows discounted);
    3. refine with GrabCut seeded from that trimap (border = sure background, far pixels = sure
       object, the rest probable);
    4. morphological clean-up, keep the main connected component(s), fill small holes.
    Computed at most :data:`MASK_SIDE` pixels large and scaled back up.
    """
    height, width = rgb.shape[:2]
    factor = min(1.0, MASK_SIDE / max(height, width))
    small = (
        cv2.resize(
            rgb, (round(width * factor), round(height * factor)), interpolation=cv2.INTER_AREA
        )
        if factor < 1
        else rgb
    )
    small = np.asarray(cv2.GaussianBlur(small, (3, 3), 0), dtype=np.uint8)
    sh, sw = small.shape[:2]
    lab = np.asarray(cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab), np.float32)
    border = _border((sh, sw), max(2, round(min(sh, sw) * 0.02)))
    model, spread = _background_model(lab, border)
    distance = _difference(lab, model)
    threshold = max(8.0, 5.0 * spread)
    rough = distance > threshold
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    rough = cv2.morphologyEx(rough.astype(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)
    if rough.sum() < 0.001 * sh * sw:
        return np.zeros((height, width), dtype=bool)
    trimap = np.full((sh, sw), cv2.GC_PR_BGD, dtype=np.uint8)
    trimap[rough] = cv2.GC_PR_FGD
    sure = cv2.erode(
        (distance > 2 * threshold).astype(np.uint8) & rough.astype(np.uint8), kernel, iterations=2
    )
    trimap[sure.astype(bool)] = cv2.GC_FGD
    trimap[border & ~rough] = cv2.GC_BGD
    trimap[distance < 0.5 * threshold] = cv2.GC_BGD
    mask = rough
    if (trimap == cv2.GC_FGD).any() or (trimap == cv2.GC_PR_FGD).any():
        background_gmm = np.zeros((1, 65), np.float64)
        foreground_gmm = np.zeros((1, 65), np.float64)
        try:
            cv2.setRNGSeed(0)  # grabCut's k-means draws from OpenCV's per-thread generator
            cv2.grabCut(
                cv2.cvtColor(small, cv2.COLOR_RGB2BGR),
                trimap,
                (0, 0, 0, 0),  # unused with GC_INIT_WITH_MASK
                background_gmm,
                foreground_gmm,
                iterations,
                cv2.GC_INIT_WITH_MASK,
            )
            mask = (trimap == cv2.GC_FGD) | (trimap == cv2.GC_PR_FGD)
        except cv2.error:  # degenerate colour statistics: keep the threshold mask
            mask = rough
    side = max(3, round(min(sh, sw) * 0.006) * 2 + 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    cleaned = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    closed = np.asarray(cv2.morphologyEx(cleaned, cv2.MORPH_CLOSE, kernel), dtype=bool)
    filled = _fill_holes(_keep_main_components(closed))
    if factor < 1:
        grown = cv2.resize(
            filled.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR
        )
        return np.asarray(grown >= 0.5)
    return filled


def feathered_alpha(mask: NDArray[np.bool_], radius: float | None = None) -> U8:
    """A soft alpha edge from a hard mask: a small Gaussian across the boundary (about one pixel
    per 500 of the image's short side), so cut-outs do not look jagged."""
    height, width = mask.shape
    sigma = radius if radius is not None else max(0.7, min(height, width) / 500)
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    return np.asarray(np.clip(alpha * 255 + 0.5, 0, 255), dtype=np.uint8)


def remove_background(image: Image.Image) -> Image.Image:
    """An RGBA cut-out of the main object (transparent where the backdrop was)."""
    rgb = as_array(image)
    alpha = feathered_alpha(foreground_mask(rgb))
    return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")


# Upscaling -----------------------------------------------------------------------------------


def _resize(array: F32, size: tuple[int, int], interpolation: int) -> F32:
    return np.asarray(cv2.resize(array, size, interpolation=interpolation), dtype=np.float32)


def upscale_array(rgb: U8, scale: int, *, iterations: int = 6) -> U8:
    """Upscale by ``scale``: Lanczos, edge-gated unsharp masking, then iterative back-projection
    (the result, blurred slightly and area-averaged back down, must reproduce the input; the
    difference is pushed back up each round), which restores edge contrast plain resampling
    loses."""
    height, width = rgb.shape[:2]
    low = rgb.astype(np.float32)
    big = (width * scale, height * scale)
    high = _resize(low, big, cv2.INTER_LANCZOS4)
    # Sharpen edges only: flat areas and noise stay as they are.
    gray = cv2.cvtColor(np.clip(high, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    gradient = cv2.magnitude(
        cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    )
    edges = np.clip(gradient / 120.0, 0, 1)[..., None]
    blurred = cv2.GaussianBlur(high, (0, 0), 0.5 * scale)
    high = high + 0.8 * edges * (high - blurred)
    for _ in range(iterations):
        # The assumed camera/resampler: a slight blur, then area averaging.
        down = _resize(
            cv2.GaussianBlur(high, (0, 0), 0.25 * scale), (width, height), cv2.INTER_AREA
        )
        high = high + _resize(low - down, big, cv2.INTER_CUBIC)
    return np.asarray(np.clip(high + 0.5, 0, 255), dtype=np.uint8)


def upscale(image: Image.Image, scale: int) -> Image.Image:
    """Upscale an RGB or RGBA image; alpha is resampled with Lanczos alone."""
    if image.mode == "RGBA":
        rgb = upscale_array(as_array(image), scale)
        size = (image.width * scale, image.height * scale)
        alpha = image.getchannel("A").resize(size, Image.Resampling.LANCZOS)
        return Image.fromarray(np.dstack([rgb, np.asarray(alpha)]), "RGBA")
    return Image.fromarray(upscale_array(as_array(image), scale), "RGB")


# Transformations -----------------------------------------------------------------------------


STRIP_ROWS = 256  # per-pixel work on large photos runs in strips: float copies of a strip only
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _luma(rgb: U8) -> F32:
    luma = np.empty(rgb.shape[:2], np.float32)
    for top in range(0, rgb.shape[0], STRIP_ROWS):
        rows = slice(top, top + STRIP_ROWS)
        luma[rows] = rgb[rows].astype(np.float32) @ _LUMA
    return luma


def grayscale(rgb: U8) -> U8:
    return np.repeat(np.clip(_luma(rgb) + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


SEPIA = np.array(
    [[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], dtype=np.float32
)


def sepia(rgb: U8) -> U8:
    result = np.empty_like(rgb)
    for top in range(0, rgb.shape[0], STRIP_ROWS):
        rows = slice(top, top + STRIP_ROWS)
        toned = rgb[rows].astype(np.float32) @ SEPIA.T
        result[rows] = np.asarray(np.clip(toned, 0, 255), dtype=np.uint8)
    return result


def vintage(rgb: U8) -> U8:
    """Warm, faded film: a half-sepia tone, lifted blacks and lowered whites, a soft vignette and
    a fixed fine grain. Computed in strips of rows (the grain drawn in the same order), so a
    large photo never has a float copy of itself."""
    height, width = rgb.shape[:2]
    result = np.empty_like(rgb)
    grain = np.random.default_rng(1977)
    xx = np.arange(width, dtype=np.float32)[None, :]
    for top in range(0, height, STRIP_ROWS):
        rows = slice(top, min(height, top + STRIP_ROWS))
        yy = np.arange(rows.start, rows.stop, dtype=np.float32)[:, None]
        result[rows] = _vintage_rows(rgb[rows], xx, yy, (width, height), grain)
    return result


def _vintage_rows(
    rgb: U8, xx: F32, yy: F32, size: tuple[int, int], grain: np.random.Generator
) -> U8:
    width, height = size
    base = rgb.astype(np.float32)
    toned = 0.55 * (base @ SEPIA.T) + 0.45 * base
    toned = 28 + toned * (200 / 255)
    toned *= np.array([1.04, 1.0, 0.88], np.float32)
    radius = np.hypot((xx - width / 2) / (width / 2), (yy - height / 2) / (height / 2))
    vignette = 1 - 0.35 * np.clip(radius - 0.45, 0, None) ** 1.5
    noise = grain.normal(0, 5, (rgb.shape[0], width, 1)).astype(np.float32)
    return np.asarray(np.clip(toned * vignette[..., None] + noise, 0, 255), dtype=np.uint8)


def _working_copy(rgb: U8, side: int) -> tuple[U8, float]:
    """Stylising filters look (and cost) the same whatever the resolution: run them on a copy
    at most ``side`` pixels large, then scale the result back."""
    height, width = rgb.shape[:2]
    factor = min(1.0, side / max(height, width))
    if factor >= 1:
        return rgb, 1.0
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), np.uint8), factor


def _back_to(array: U8, shape: tuple[int, ...]) -> U8:
    if array.shape[:2] == shape[:2]:
        return array
    return np.asarray(
        cv2.resize(array, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC), np.uint8
    )


def cartoon(rgb: U8) -> U8:
    """Flat colour regions (repeated bilateral filtering, then lightness quantised in Lab so hues
    do not band) with dark ink outlines from an adaptive threshold of the blurred luminance."""
    small, _ = _working_copy(rgb, 1024)
    smooth = small
    for _ in range(4):
        smooth = np.asarray(cv2.bilateralFilter(smooth, 7, 40, 7), np.uint8)
    lab = cv2.cvtColor(smooth, cv2.COLOR_RGB2LAB).astype(np.float32)
    step = 256 / 7
    lab[..., 0] = (np.floor(lab[..., 0] / step) + 0.5) * step
    flat = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    gray = cv2.medianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), 5)
    block = max(3, (min(small.shape[:2]) // 40) | 1)
    lines = cv2.adaptiveThreshold(
        gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, 6
    )
    result = flat.astype(np.float32) * (lines[..., None].astype(np.float32) / 255)
    return _back_to(np.asarray(np.clip(result, 0, 255), np.uint8), rgb.shape)


def pencil_sketch(rgb: U8) -> U8:
    """Graphite on paper: the colour dodge of the luminance by its blurred inverse."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    sigma = max(2.0, min(rgb.shape[:2]) / 120)
    blurred = cv2.GaussianBlur(255 - gray, (0, 0), sigma)
    sketch = cv2.divide(gray, 255 - blurred, scale=256).astype(np.float32)
    darker = 255 * (np.clip(sketch, 0, 255) / 255) ** 2.2
    return np.repeat(np.clip(darker, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def watercolor(rgb: U8) -> U8:
    """Washes of colour: OpenCV's edge-preserving stylisation, a mean-shift-like smoothing of
    colours, slightly desaturated and lightened towards the paper, with darker pigment edges."""
    small, _ = _working_copy(rgb, 1024)
    washed = cv2.stylization(small, sigma_s=60, sigma_r=0.45)
    washed = cv2.medianBlur(washed, 5).astype(np.float32)
    paper = np.array([250, 247, 240], np.float32)
    washed = 0.82 * washed + 0.18 * paper
    gray = cv2.cvtColor(np.clip(washed, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    edges = cv2.Laplacian(cv2.GaussianBlur(gray, (0, 0), 1.5), cv2.CV_32F)
    washed = washed - np.clip(-edges, 0, 40)[..., None] * 0.6
    return _back_to(np.asarray(np.clip(washed, 0, 255), np.uint8), rgb.shape)


def auto_levels(rgb: U8, low: float = 0.5, high: float = 99.5) -> U8:
    """Stretch the luminance's ``low``..``high`` percentiles to the full range (one curve for all
    channels, so colours do not shift), applied as a 256-entry table."""
    luma = _luma(rgb)
    black, white = np.percentile(luma, [low, high])
    del luma
    if white - black < 1:
        return rgb
    gain = 255 / (white - black)
    values = np.arange(256, dtype=np.float32)
    table = np.asarray(np.clip((values - black) * gain, 0, 255), np.uint8)
    return np.asarray(cv2.LUT(rgb, table), np.uint8)


def enhance(rgb: U8) -> U8:
    """A light edge-preserving denoise, auto levels, gentle local contrast (CLAHE on Lab
    lightness) and an unsharp mask that ignores differences at the noise level."""
    denoised = np.asarray(cv2.bilateralFilter(rgb, 5, 20, 5), np.uint8)
    levelled = auto_levels(denoised)
    lab = cv2.cvtColor(levelled, cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(clipLimit=1.3, tileGridSize=(8, 8))
    lab[..., 0] = clahe.apply(lab[..., 0])
    del denoised, levelled
    contrasted = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB).astype(np.float32)
    del lab
    sigma = max(1.0, min(rgb.shape[:2]) / 600)
    # In place: the detail layer reuses the blur's buffer (two float copies of the photo).
    detail = np.asarray(cv2.GaussianBlur(contrasted, (0, 0), sigma), np.float32)
    np.subtract(contrasted, detail, out=detail)
    detail *= (detail > 3) | (detail < -3)
    detail *= np.float32(0.7)
    contrasted += detail
    return np.asarray(np.clip(contrasted, 0, 255, out=contrasted), np.uint8)


_EFFECTS = {
    "grayscale": grayscale,
    "sepia": sepia,
    "vintage": vintage,
    "cartoon": cartoon,
    "pencil-sketch": pencil_sketch,
    "watercolor": watercolor,
    "enhance": enhance,
}


def blend(original: U8, effect: U8, strength: float) -> U8:
    """``strength`` 0 keeps the original, 1 is the full effect."""
    if strength >= 1:
        return effect
    # OpenCV mixes uint8 pixels in one pass: no float copies of a large photo (36 bytes/pixel).
    return np.asarray(cv2.addWeighted(original, 1 - strength, effect, strength, 0), np.uint8)


def transform(image: Image.Image, transformation: Transformation, strength: float) -> Image.Image:
    """Apply a named transformation, blended with the original by ``strength``; alpha is kept."""
    rgb = as_array(image)
    result = blend(rgb, _EFFECTS[transformation](rgb), strength)
    if image.mode == "RGBA":
        return Image.fromarray(np.dstack([result, np.asarray(image.getchannel("A"))]), "RGBA")
    return Image.fromarray(result, "RGB")
