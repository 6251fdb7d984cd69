"""A provider's image output is decoded before it is kept: a file that is not a whole image of a
kept type is the provider's failure, and the size stored is the upright one."""

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


def test_the_size_is_the_upright_one(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # shown turned a quarter: 200 wide, 320 high
    path = tmp_path / "0.jpg"
    path.write_bytes(picture("JPEG", exif=exif.tobytes()))
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
