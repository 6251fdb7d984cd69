"""Drawing a template: each layer becomes an RGBA patch once, then patches are composited
onto the canvas (once for an image; once per frame for a video, moved and faded by their
animations). Pillow only; the fonts are Pillow's bundled scalable font, as for captions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont, ImageOps

from mediastudio.engines.builtin.templates.spec import (
    Animation,
    ImageLayer,
    ShapeLayer,
    Template,
    TextLayer,
    resolve_color,
)
from mediastudio.engines.media.captions import load_font, wrap_text

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
ELLIPSIS = "…"
SHRINK_STEP = 0.92


@dataclass(frozen=True)
class RenderData:
    """What the caller filled in: text per text slot, a decoded image per image slot, and
    ``#rrggbb`` per colour variable (merged over the template's own)."""

    texts: Mapping[str, str]
    images: Mapping[str, Image.Image]
    colors: Mapping[str, str]


@dataclass(frozen=True)
class Patch:
    image: Image.Image  # RGBA, the layer's box size, opacity applied
    x: int
    y: int
    animate: Animation | None


@dataclass(frozen=True)
class FittedText:
    font_size: int
    lines: list[str]


def fit_text(text: str, layer: TextLayer) -> FittedText:
    """The largest size from ``font_size`` down to ``min_font_size`` at which the wrapped text
    fits the box; at the smallest, the lines that fit, the last one ending in an ellipsis."""
    _, _, width, height = layer.box
    size = layer.font_size
    while True:
        font = load_font(size)
        lines = wrap_text(text, font, width - 2 * _stroke(layer, size))
        if _block_height(font, size, len(lines), layer) <= height or size <= layer.min_font_size:
            break
        size = max(layer.min_font_size, int(size * SHRINK_STEP))
    fitting = len(lines)
    while fitting > 1 and _block_height(font, size, fitting, layer) > height:
        fitting -= 1
    if fitting < len(lines):
        lines = [*lines[: fitting - 1], _ellipsised(lines[fitting - 1], font, width)]
    return FittedText(size, lines)


def _stroke(layer: TextLayer, size: int) -> int:
    return max(1, round(size / 36)) if layer.bold else 0


def _block_height(font: Font, size: int, count: int, layer: TextLayer) -> float:
    ascent, descent = _metrics(font, size)
    return (count - 1) * size * layer.line_spacing + ascent + descent


def _metrics(font: Font, size: int) -> tuple[int, int]:
    if isinstance(font, ImageFont.FreeTypeFont):
        return font.getmetrics()
    return size, 0  # a Pillow built without FreeType: the bitmap font


def _ellipsised(line: str, font: Font, width: float) -> str:
    while line and font.getlength(line + ELLIPSIS) > width:
        line = line[:-1]
    return line.rstrip() + ELLIPSIS


def text_patch(layer: TextLayer, text: str, colors: Mapping[str, str]) -> Image.Image:
    _, _, width, height = layer.box
    patch = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    text = text.upper() if layer.uppercase else text
    if not text.strip():
        return patch
    fitted = fit_text(text, layer)
    font = load_font(fitted.font_size)
    stroke = _stroke(layer, fitted.font_size)
    color = resolve_color(layer.color, dict(colors))
    block = _block_height(font, fitted.font_size, len(fitted.lines), layer)
    top = {"top": 0.0, "middle": (height - block) / 2, "bottom": height - block}[layer.valign]
    draw = ImageDraw.Draw(patch)
    for index, line in enumerate(fitted.lines):
        length = font.getlength(line)
        left = {"left": stroke, "center": (width - length) / 2, "right": width - length - stroke}
        y = top + index * fitted.font_size * layer.line_spacing
        draw.text(
            (left[layer.align], y),
            line,
            font=font,
            fill=(*color, 255),
            stroke_width=stroke,
            stroke_fill=(*color, 255),
        )
    return patch


def _rounded_mask(size: tuple[int, int], radius: int) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, size[0] - 1, size[1] - 1), radius, fill=255)
    return mask


def shape_patch(layer: ShapeLayer, colors: Mapping[str, str]) -> Image.Image:
    _, _, width, height = layer.box
    patch = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    fill = (*resolve_color(layer.fill, dict(colors)), 255)
    draw = ImageDraw.Draw(patch)
    if layer.kind == "ellipse":
        draw.ellipse((0, 0, width - 1, height - 1), fill=fill)
    else:
        draw.rounded_rectangle((0, 0, width - 1, height - 1), layer.radius, fill=fill)
    return patch


def image_patch(
    layer: ImageLayer, image: Image.Image | None, colors: Mapping[str, str]
) -> Image.Image:
    _, _, width, height = layer.box
    if image is None:
        if layer.placeholder is None:
            return Image.new("RGBA", (width, height), (0, 0, 0, 0))
        color = resolve_color(layer.placeholder, dict(colors))
        patch = Image.new("RGBA", (width, height), (*color, 255))
    elif layer.fit == "cover":
        patch = ImageOps.fit(image.convert("RGBA"), (width, height), Image.Resampling.LANCZOS)
    else:
        inner = ImageOps.contain(image.convert("RGBA"), (width, height), Image.Resampling.LANCZOS)
        patch = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        patch.paste(inner, ((width - inner.width) // 2, (height - inner.height) // 2))
    if layer.radius:
        alpha = patch.getchannel("A")
        mask = _rounded_mask((width, height), layer.radius)
        patch.putalpha(Image.fromarray(np.minimum(np.asarray(alpha), np.asarray(mask))))
    return patch


def _faded(image: Image.Image, factor: float) -> Image.Image:
    if factor >= 1.0:
        return image
    faded = image.copy()
    faded.putalpha(image.getchannel("A").point([round(v * factor) for v in range(256)]))
    return faded


def patches(template: Template, data: RenderData) -> list[Patch]:
    """Every layer drawn once, in order."""
    colors = {**template.colors, **data.colors}
    drawn: list[Patch] = []
    for layer in template.layers:
        if isinstance(layer, TextLayer):
            image = text_patch(layer, data.texts.get(layer.slot, layer.default), colors)
        elif isinstance(layer, ImageLayer):
            image = image_patch(layer, data.images.get(layer.slot), colors)
        else:
            image = shape_patch(layer, colors)
        x, y, _, _ = layer.box
        drawn.append(Patch(_faded(image, layer.opacity), x, y, layer.animate))
    return drawn


def _background(template: Template, data: RenderData) -> Image.Image:
    color = resolve_color(template.canvas.background, {**template.colors, **data.colors})
    return Image.new("RGBA", (template.canvas.width, template.canvas.height), (*color, 255))


def _paste(canvas: Image.Image, image: Image.Image, x: int, y: int) -> None:
    """Alpha-composite ``image`` at (x, y), clipped to the canvas (a slide starts outside)."""
    left, top = max(0, x), max(0, y)
    right, bottom = min(canvas.width, x + image.width), min(canvas.height, y + image.height)
    if right <= left or bottom <= top:
        return
    part = image.crop((left - x, top - y, right - x, bottom - y))
    canvas.alpha_composite(part, (left, top))


def render_image(template: Template, data: RenderData) -> Image.Image:
    canvas = _background(template, data)
    for patch in patches(template, data):
        _paste(canvas, patch.image, patch.x, patch.y)
    return canvas.convert("RGB")


def _eased(progress: float) -> float:
    progress = min(1.0, max(0.0, progress))
    return 1 - (1 - progress) ** 3  # ease-out: fast start, soft landing


def _at(patch: Patch, t: float, canvas: tuple[int, int]) -> tuple[Image.Image, int, int] | None:
    """The patch as it is at ``t`` seconds: faded, moved or scaled by its animation."""
    animation = patch.animate
    if animation is None:
        return patch.image, patch.x, patch.y
    if t < animation.start_s:
        return None
    p = _eased((t - animation.start_s) / animation.duration_s)
    alpha = p
    if animation.exit_s is not None and t >= animation.exit_s:
        alpha *= 1 - _eased((t - animation.exit_s) / animation.duration_s)
    if alpha <= 0:
        return None
    image, x, y = patch.image, patch.x, patch.y
    shift = (1 - p) * animation.distance
    if animation.enter == "slide-up":
        y += round(shift * canvas[1])
    elif animation.enter == "slide-down":
        y -= round(shift * canvas[1])
    elif animation.enter == "slide-left":
        x += round(shift * canvas[0])
    elif animation.enter == "slide-right":
        x -= round(shift * canvas[0])
    elif animation.enter == "zoom" and p < 1:
        scale = 0.8 + 0.2 * p
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        x += (image.width - size[0]) // 2
        y += (image.height - size[1]) // 2
        image = image.resize(size, Image.Resampling.BILINEAR)
    return _faded(image, alpha), x, y


def _settled(patch: Patch, t: float) -> str | None:
    """``hidden`` or ``shown`` when the patch is still at ``t``; None while it moves."""
    animation = patch.animate
    if animation is None:
        return "shown"
    entered = animation.start_s + animation.duration_s
    if t < animation.start_s:
        return "hidden"
    if animation.exit_s is None:
        return "shown" if t >= entered else None
    if t >= animation.exit_s + animation.duration_s:
        return "hidden"
    return "shown" if entered <= t < animation.exit_s else None


def render_frames(template: Template, data: RenderData) -> Iterator[NDArray[np.uint8]]:
    """The video's frames as RGB arrays. Layers before the first animated one are composited
    once into the base; the rest per frame, except that a frame where nothing moves is
    composited once and repeated (a title card holds still for most of its length)."""
    assert template.fps is not None
    drawn = patches(template, data)
    base = _background(template, data)
    first_animated = next((i for i, p in enumerate(drawn) if p.animate), len(drawn))
    for patch in drawn[:first_animated]:
        _paste(base, patch.image, patch.x, patch.y)
    size = (template.canvas.width, template.canvas.height)
    still: dict[tuple[str | None, ...], NDArray[np.uint8]] = {}
    for index in range(template.frames):
        t = index / template.fps
        states = tuple(_settled(patch, t) for patch in drawn[first_animated:])
        if None not in states and states in still:
            yield still[states]
            continue
        frame = base.copy()
        for patch in drawn[first_animated:]:
            placed = _at(patch, t, size)
            if placed is not None:
                _paste(frame, *placed)
        pixels = np.asarray(frame.convert("RGB"))
        if None not in states:
            still[states] = pixels
        yield pixels
