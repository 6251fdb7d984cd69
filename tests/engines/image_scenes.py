"""Synthetic test images drawn in code, with their ground truth: a product shot on a studio
background (and its exact object mask), and a detailed image with edges and text."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont


def product_shot(
    width: int = 320,
    height: int = 240,
    *,
    gradient: bool = True,
    body: tuple[int, int, int] = (30, 110, 170),
    seed: int = 7,
) -> tuple[Image.Image, np.ndarray]:
    """A shaded bottle-like object with a cap and a soft cast shadow on a light studio backdrop
    (a vertical gradient when ``gradient``), with mild sensor noise. Returns the RGB image and the
    object's boolean mask (the shadow is background)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if gradient:
        top, bottom = np.array([236, 238, 242.0]), np.array([200, 203, 210.0])
        t = (yy / (height - 1))[..., None]
        background = top * (1 - t) + bottom * t
    else:
        background = np.broadcast_to(np.array([245, 245, 245.0]), (height, width, 3)).copy()
    # Object: a rounded body and a narrower cap, in the middle of the frame.
    mask_image = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask_image)
    cx = width * 0.48
    body_box = (cx - width * 0.13, height * 0.30, cx + width * 0.13, height * 0.80)
    cap = (cx - width * 0.05, height * 0.16, cx + width * 0.05, height * 0.32)
    draw.rounded_rectangle(body_box, radius=int(width * 0.05), fill=255)
    draw.rectangle(cap, fill=255)
    mask = np.asarray(mask_image) > 127
    # Shadow: a soft dark ellipse on the floor, to the right of the object's foot.
    shadow_image = Image.new("L", (width, height), 0)
    ImageDraw.Draw(shadow_image).ellipse(
        (cx - width * 0.10, height * 0.74, cx + width * 0.30, height * 0.88), fill=255
    )
    shadow = np.asarray(shadow_image.filter(ImageFilter.GaussianBlur(width * 0.02))) / 255.0
    scene = background * (1 - 0.45 * shadow[..., None])
    # Shading: a cylinder lit from the left, a saturated blue-teal with a specular stripe.
    across = np.clip((xx - (cx - width * 0.13)) / (width * 0.26), 0, 1)
    light = 0.35 + 0.65 * np.sin(np.pi * np.clip(across * 0.9 + 0.05, 0, 1)) ** 0.7
    light = light + 0.35 * np.exp(-(((across - 0.3) / 0.05) ** 2))
    body_colour = np.array(body, dtype=np.float64)
    cap_colour = np.array([190, 60, 40.0])
    in_cap = (yy < height * 0.32)[..., None]
    colour = np.where(in_cap, cap_colour, body_colour) * light[..., None]
    scene = np.where(mask[..., None], np.clip(colour, 0, 255), scene)
    scene = scene + rng.normal(0, 2.0, scene.shape)
    rgb = Image.fromarray(np.clip(scene, 0, 255).astype(np.uint8), "RGB")
    return rgb, mask


def detailed(width: int = 256, height: int = 192) -> Image.Image:
    """Sharp edges at many angles, thin lines, a checkerboard, circles and text."""
    image = Image.new("RGB", (width, height), (250, 248, 240))
    draw = ImageDraw.Draw(image)
    for i in range(0, width, 16):
        draw.line((i, 0, width - i, height), fill=(20, 20, 60), width=1)
    for y in range(0, height // 2, 12):
        for x in range(0, width // 3, 12):
            if (x // 12 + y // 12) % 2 == 0:
                draw.rectangle((x, y, x + 11, y + 11), fill=(200, 30, 30))
    draw.ellipse(
        (width * 0.55, height * 0.1, width * 0.95, height * 0.6), outline=(0, 90, 0), width=3
    )
    draw.polygon(
        [(width * 0.1, height * 0.9), (width * 0.3, height * 0.55), (width * 0.5, height * 0.95)],
        fill=(30, 60, 200),
    )
    font = ImageFont.load_default()
    for row in range(3):
        draw.text(
            (width * 0.45, height * 0.65 + row * 14), "MediaStudio 2024", fill=(0, 0, 0), font=font
        )
    return image


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(error, 1e-12)))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / max(1, np.logical_or(a, b).sum()))


def data_uri(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    mime = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[fmt]
    return f"data:{mime};base64," + base64.b64encode(buffer.getvalue()).decode()


def bytes_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's
    signature): a decoder that trusted it would allocate gigabytes."""
    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    # IHDR: 8-byte signature, 4-byte length, b"IHDR", then width and height, then the CRC.
    data[16:24] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:29]))
    data[29:33] = struct.pack(">I", crc)
    return bytes(data)


def large_png(
    width: int,
    height: int,
    colour: tuple[int, int, int] = (238, 236, 232),
    box: tuple[int, int, int, int] | None = None,
    box_colour: tuple[int, int, int] = (160, 40, 40),
) -> bytes:
    """A real, decodable RGB PNG of any size that costs little to make and to send: one colour
    (with an optional ``box`` = left, top, right, bottom of another), compressed row by row, so
    a 39 Mpx image is a few hundred kilobytes and never exists in memory here."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    plain = b"\0" + bytes(colour) * width  # filter byte 0, then the pixels
    boxed = plain
    if box is not None:
        left, _, right, _ = box
        boxed = b"\0" + bytes(colour) * left + bytes(box_colour) * (right - left)
        boxed += bytes(colour) * (width - right)
    compressor = zlib.compressobj(9)
    parts = []
    for row in range(height):
        inside = box is not None and box[1] <= row < box[3]
        parts.append(compressor.compress(boxed if inside else plain))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )
