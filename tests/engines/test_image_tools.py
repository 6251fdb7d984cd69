"""The image-tools engine: background removal against a known mask, upscaling against a known
original, every transformation, and bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pydantic import BaseModel

from mediastudio.engines.builtin.image_tools import ops
from mediastudio.engines.builtin.image_tools.engine import (
    MODELS,
    ImageToolsEngine,
    RemoveBackgroundInput,
    TransformInput,
    UpscaleInput,
)
from mediastudio.engines.contract import InvalidInput, JobCancelled
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher
from tests.engines.image_scenes import (
    bomb_png,
    bytes_uri,
    data_uri,
    detailed,
    iou,
    product_shot,
    psnr,
)

ENGINE = ImageToolsEngine()
SPECS = {spec.id: spec for spec in MODELS}


def run(tmp_path: Path, model_id: str, validated: BaseModel) -> JobContext:
    ctx = JobContext(
        generation_id="gen_test",
        model=SPECS[model_id],
        input=validated,
        sandbox=False,
        workdir=tmp_path,
        fetcher=SafeFetcher(tmp_path, NetPolicy()),
    )
    ENGINE.run(ctx)
    return ctx


@pytest.mark.parametrize(
    ("gradient", "body"),
    [
        (True, (30, 110, 170)),
        (False, (30, 110, 170)),
        (False, (45, 45, 45)),
        (True, (120, 120, 120)),
        (True, (215, 215, 210)),
    ],
    ids=[
        "blue-on-gradient",
        "blue-on-plain",
        "black-on-plain",
        "grey-on-gradient",
        "pale-on-gradient",
    ],
)
def test_background_removal_matches_the_known_mask(
    gradient: bool, body: tuple[int, int, int]
) -> None:
    shot, truth = product_shot(320, 240, gradient=gradient, body=body)
    found = ops.foreground_mask(ops.as_array(shot))
    assert iou(found, truth) >= 0.9
    # The cast shadow beside the object's foot stays background.
    assert not found[int(240 * 0.83), int(320 * 0.70)]


def test_remove_background_job_writes_a_transparent_png(tmp_path: Path) -> None:
    shot, truth = product_shot(320, 240)
    ctx = run(
        tmp_path, "builtin/remove-background", RemoveBackgroundInput(image_url=data_uri(shot))
    )
    assert len(ctx.outputs) == 1 and ctx.percent == 100
    output = ctx.outputs[0]
    image = Image.open(output.path)
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (320, 240)
    assert (output.width, output.height, output.content_type) == (320, 240, "image/png")
    alpha = np.asarray(image.getchannel("A"))
    assert iou(alpha >= 128, truth) >= 0.9
    assert alpha[0, 0] == 0 and alpha[int(240 * 0.55), int(320 * 0.48)] == 255
    # A feathered edge: some partly transparent pixels, only along the boundary.
    assert 0 < ((alpha > 0) & (alpha < 255)).mean() < 0.05


def test_remove_background_as_webp_keeps_alpha(tmp_path: Path) -> None:
    shot, _ = product_shot(160, 120)
    validated = RemoveBackgroundInput(image_url=data_uri(shot), output_format="webp")
    image = Image.open(run(tmp_path, "builtin/remove-background", validated).outputs[0].path)
    assert image.format == "WEBP" and image.mode == "RGBA"


@pytest.mark.parametrize("scale", [2, 4])
def test_upscale_beats_plain_resampling(tmp_path: Path, scale: int) -> None:
    original = detailed(256, 192)
    truth = np.asarray(original)
    small = original.resize((256 // scale, 192 // scale), Image.Resampling.BICUBIC)
    validated = UpscaleInput(image_url=data_uri(small), scale=scale)
    output = run(tmp_path, "builtin/upscale", validated).outputs[0]
    upscaled = Image.open(output.path)
    assert upscaled.size == (256, 192) and output.extra == {"scale": scale}
    ours = psnr(np.asarray(upscaled.convert("RGB")), truth)
    for plain in (Image.Resampling.BICUBIC, Image.Resampling.BILINEAR):
        assert ours > psnr(np.asarray(small.resize((256, 192), plain)), truth) + 0.2


def test_upscale_of_a_photo_like_image_gains_on_bicubic() -> None:
    shot, _ = product_shot(320, 240)
    truth = np.asarray(shot)
    small = shot.resize((80, 60), Image.Resampling.BICUBIC)
    ours = psnr(np.asarray(ops.upscale(small, 4)), truth)
    assert ours > psnr(np.asarray(small.resize((320, 240), Image.Resampling.BICUBIC)), truth) + 0.5


def test_upscale_keeps_transparency() -> None:
    cutout = ops.remove_background(product_shot(120, 90)[0])
    upscaled = ops.upscale(cutout, 2)
    assert upscaled.mode == "RGBA" and upscaled.size == (240, 180)
    assert np.asarray(upscaled.getchannel("A"))[0, 0] == 0


def test_upscale_refuses_inputs_whose_output_would_be_too_large(tmp_path: Path) -> None:
    big = Image.new("RGB", (1100, 1000), (10, 20, 30))  # x4 would be 17.6 Mpx
    with pytest.raises(InvalidInput, match="pixels"):
        run(tmp_path, "builtin/upscale", UpscaleInput(image_url=data_uri(big), scale=4))


@pytest.mark.parametrize("transformation", ops.TRANSFORMATIONS)
def test_each_transformation_keeps_the_size_and_changes_the_image(
    tmp_path: Path, transformation: ops.Transformation
) -> None:
    shot, _ = product_shot(200, 150)
    validated = TransformInput(
        image_url=data_uri(shot), transformation=transformation, strength=1.0, output_format="png"
    )
    output = run(tmp_path, "builtin/image-transform", validated).outputs[0]
    result = np.asarray(Image.open(output.path).convert("RGB"), dtype=np.int16)
    original = np.asarray(shot, dtype=np.int16)
    assert result.shape == original.shape
    assert np.abs(result - original).mean() > 3, transformation
    if transformation in ("grayscale", "pencil-sketch"):
        assert (result[..., 0] == result[..., 1]).all() and (result[..., 1] == result[..., 2]).all()
    if transformation in ("sepia", "vintage"):
        red, green, blue = (result[..., i].mean() for i in range(3))
        assert red > green > blue  # a warm brown tone, whatever the blue object
    if transformation == "pencil-sketch":
        assert result.mean() > 180  # mostly paper


def test_strength_blends_with_the_original() -> None:
    shot, _ = product_shot(120, 90)
    original = np.asarray(shot, dtype=np.int16)
    none = np.asarray(ops.transform(shot, "sepia", 0.0), dtype=np.int16)
    half = np.asarray(ops.transform(shot, "sepia", 0.5), dtype=np.int16)
    full = np.asarray(ops.transform(shot, "sepia", 1.0), dtype=np.int16)
    assert (none == original).all()
    assert np.abs(half - (original + full) / 2).max() <= 1


def test_enhance_stretches_a_dull_image() -> None:
    shot, _ = product_shot(200, 150)
    dull = Image.fromarray((np.asarray(shot) * 0.5 + 60).astype(np.uint8))
    enhanced = np.asarray(ops.transform(dull, "enhance", 1.0))
    assert np.ptp(enhanced) > np.ptp(np.asarray(dull)) * 1.5


@pytest.mark.parametrize(
    "payload",
    [bomb_png(), b"\x89PNG\r\n\x1a\n this is not really a png", b"plain text"],
    ids=["decompression-bomb", "corrupt-png", "not-an-image"],
)
def test_bad_images_are_invalid_input(tmp_path: Path, payload: bytes) -> None:
    validated = TransformInput(image_url=bytes_uri(payload), transformation="grayscale")
    with pytest.raises(InvalidInput):
        run(tmp_path, "builtin/image-transform", validated)


def test_a_cancelled_job_stops(tmp_path: Path) -> None:
    shot, _ = product_shot(120, 90)
    ctx = JobContext(
        generation_id="gen_test",
        model=SPECS["builtin/upscale"],
        input=UpscaleInput(image_url=data_uri(shot)),
        sandbox=False,
        workdir=tmp_path,
        fetcher=SafeFetcher(tmp_path, NetPolicy()),
    )
    ctx.cancel("cancelled")
    with pytest.raises(JobCancelled):
        ENGINE.run(ctx)
    assert ctx.outputs == []


def test_large_photos_get_the_same_clean_up_as_small_ones() -> None:
    """Above the 640 px working size the cleaned mask is what gets scaled back up: a speck of
    dust on the backdrop stays background and the cut-out is deterministic."""
    from mediastudio.engines.builtin.image_tools.ops import foreground_mask

    image = Image.new("RGB", (1280, 960), (236, 236, 232))
    draw = ImageDraw.Draw(image)
    draw.rectangle((480, 300, 800, 760), fill=(30, 70, 150))
    draw.ellipse((100, 100, 140, 140), fill=(20, 20, 20))  # a speck of dust, 40 px
    rgb = np.asarray(image)
    mask = foreground_mask(rgb)
    assert mask[530, 640] and not mask[120, 120]
    assert np.array_equal(mask, foreground_mask(rgb))
