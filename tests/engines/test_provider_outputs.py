"""A provider's image output is proven whole before it is kept: a file that is not a whole
image of a kept type is the provider's failure, and the size stored is the upright one."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from mediastudio.engines.contract import ProviderError
from mediastudio.engines.providers.media import describe

ORIENTATION = 0x0112


def picture(image_format: str, size: tuple[int, int] = (320, 200), **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert("RGB").save(
        buffer, format=image_format, **options
    )
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("image_format", "media_type", "suffix"),
    [("WEBP", "image/webp", ".webp"), ("PNG", "image/png", ".png"), ("JPEG", "image/jpeg", ".jpg")],
)
def test_an_image_is_measured_and_kept_under_its_real_suffix(
    tmp_path: Path, image_format: str, media_type: str, suffix: str
) -> None:
    path = tmp_path / "0.bin"
    path.write_bytes(picture(image_format))
    output = describe(path, "image", "replicate")
    assert (output.content_type, output.path.suffix) == (media_type, suffix)
    assert (output.width, output.height) == (320, 200)
    with Image.open(output.path) as stored:
        assert stored.format == image_format


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_the_size_is_the_upright_one(tmp_path: Path, image_format: str) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # shown turned a quarter: 200 wide, 320 high
    path = tmp_path / "0.bin"
    path.write_bytes(picture(image_format, exif=exif.tobytes()))
    output = describe(path, "image", "replicate")
    assert (output.width, output.height) == (200, 320)


@pytest.mark.parametrize("image_format", ["WEBP", "PNG", "JPEG"])
def test_a_truncated_image_is_the_providers_failure(tmp_path: Path, image_format: str) -> None:
    # A noisy picture, so that its pixels (not only its header) fill most of the file.
    noise = Image.effect_noise((512, 512), 64).convert("RGB")
    buffer = io.BytesIO()
    noise.save(buffer, format=image_format)
    whole = buffer.getvalue()
    path = tmp_path / "0.bin"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ProviderError, match="unreadable image"):
        describe(path, "image", "replicate")


def test_a_file_of_another_type_is_the_providers_failure(tmp_path: Path) -> None:
    path = tmp_path / "0.bin"
    path.write_bytes(picture("BMP"))
    with pytest.raises(ProviderError, match="not a PNG, JPEG, WebP or GIF"):
        describe(path, "image", "replicate")


def encoded(image_format: str, **options: object) -> bytes:
    noise = Image.effect_noise((256, 192), 64).convert("RGB")
    buffer = io.BytesIO()
    noise.save(buffer, format=image_format, **options)
    return buffer.getvalue()


WHOLE_FILES = {
    "webp": lambda: encoded("WEBP"),
    "webp-lossless": lambda: encoded("WEBP", lossless=True),
    "png": lambda: encoded("PNG"),
    "jpeg": lambda: encoded("JPEG"),
    "jpeg-progressive-restarts": lambda: encoded("JPEG", progressive=True, restart_marker_rows=1),
}


@pytest.mark.parametrize("name", sorted(WHOLE_FILES))
def test_an_image_cut_anywhere_is_refused_and_the_whole_one_kept(tmp_path: Path, name: str) -> None:
    whole = WHOLE_FILES[name]()
    path = tmp_path / "whole.bin"
    path.write_bytes(whole)
    kept = describe(path, "image", "fal")
    assert (kept.width, kept.height) == (256, 192)
    # Cut after the header (which Pillow reads alone) at many points, including one byte short.
    for cut in sorted({*range(200, len(whole), max(1, len(whole) // 23)), len(whole) - 1}):
        cut_path = tmp_path / f"cut-{cut}.bin"
        cut_path.write_bytes(whole[:cut])
        with pytest.raises(ProviderError, match="unreadable image"):
            describe(cut_path, "image", "fal")


def test_a_jpeg_cut_right_after_its_embedded_thumbnail_is_refused(tmp_path: Path) -> None:
    # A thumbnail in the EXIF block ends with its own end-of-image marker: a file cut just after
    # it ends with FF D9 too, so only walking the segments tells the two apart.
    thumbnail = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(thumbnail, format="JPEG")
    exif = Image.Exif()
    exif[ORIENTATION] = 1
    app1 = b"Exif\x00\x00" + exif.tobytes() + thumbnail.getvalue()
    whole = encoded("JPEG")
    spliced = whole[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + whole[2:]
    path = tmp_path / "whole.jpg"
    path.write_bytes(spliced)
    describe(path, "image", "fal")
    cut = spliced.index(thumbnail.getvalue()) + len(thumbnail.getvalue())
    assert spliced[cut - 2 : cut] == b"\xff\xd9"
    path.write_bytes(spliced[:cut])
    with pytest.raises(ProviderError, match="unreadable image"):
        describe(path, "image", "fal")


def test_a_png_with_a_damaged_chunk_is_refused(tmp_path: Path) -> None:
    whole = bytearray(encoded("PNG"))
    data_start = whole.index(b"IDAT") + 4
    whole[data_start + 100] ^= 0xFF  # the length is intact: only the CRC tells
    path = tmp_path / "0.png"
    path.write_bytes(bytes(whole))
    with pytest.raises(ProviderError, match="unreadable image"):
        describe(path, "image", "fal")
