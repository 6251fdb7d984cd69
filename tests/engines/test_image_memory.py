"""Each image job's working memory is bounded: images are decoded at the size the result needs
where the operation allows, and an image whose processing would pass the budget is refused
with ``invalid_input`` before its pixels are decoded, saying the limit and the setting."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mediastudio.engines.builtin.image_tools.engine import MODELS, ImageToolsEngine, TransformInput
from mediastudio.engines.builtin.image_tools.presets import PRESETS
from mediastudio.engines.builtin.image_tools.product import ProductEnhanceInput, ProductItem
from mediastudio.engines.builtin.image_tools.source import JobMemory
from mediastudio.engines.contract import InvalidInput
from mediastudio.engines.media.images import DECODE_BYTES_PER_PIXEL, MemoryBudget, open_image
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher
from mediastudio.settings import Settings
from tests.engines.image_scenes import bytes_uri, large_png

MIB = 1024 * 1024
SPECS = {spec.id: spec for spec in MODELS}


@cache
def photo_39mpx() -> bytes:
    return large_png(7600, 5100)  # legal: under the 40 Mpx decode cap


@cache
def product_39mpx() -> bytes:
    return large_png(7600, 5100, box=(2500, 1500, 5100, 3600))


def context(tmp_path: Path, model_id: str, validated: object) -> JobContext:
    return JobContext(
        generation_id="gen_test",
        model=SPECS[model_id],
        input=validated,  # type: ignore[arg-type]
        sandbox=False,
        workdir=tmp_path,
        fetcher=SafeFetcher(tmp_path, NetPolicy()),
    )


def test_the_engine_s_default_budget_is_the_setting_s_default() -> None:
    assert JobMemory().limit_bytes == Settings.model_fields["image_memory_bytes"].default


def test_a_legal_photo_over_the_job_budget_is_refused_with_the_limit_and_the_setting(
    tmp_path: Path,
) -> None:
    validated = TransformInput(
        image_url=bytes_uri(photo_39mpx()), transformation="enhance", output_format="png"
    )
    ctx = context(tmp_path, "builtin/image-transform", validated)
    with pytest.raises(InvalidInput) as refused:
        ImageToolsEngine().run(ctx)  # the default budget: 1 GiB
    message = refused.value.message
    assert "7600x5100" in message
    assert "1,024 MiB" in message and "MEDIASTUDIO_IMAGE_MEMORY_BYTES" in message
    assert ctx.outputs == []


def product_job(tmp_path: Path, preset: str, limit: int) -> JobContext:
    item = ProductItem(image_url=bytes_uri(product_39mpx()))
    validated = ProductEnhanceInput(preset=preset, items=[item], output_format="png")  # type: ignore[arg-type]
    ctx = context(tmp_path, "builtin/product-enhance", validated)
    ImageToolsEngine(JobMemory(limit)).run(ctx)
    return ctx


def cost(preset: str, working_pixels: int) -> int:
    return MemoryBudget(0, PRESETS[preset].work_bytes_per_pixel).needed(7600 * 5100, working_pixels)


# Just enough for a cut-out preset working on the photo reduced to its 2000 px square.
LIMIT = cost("marketplace_square", 2000 * 1342) + MIB


def test_a_cut_out_preset_decodes_a_large_photo_only_as_large_as_its_result(
    tmp_path: Path,
) -> None:
    assert cost("marketplace_square", 7600 * 5100) > 4 * LIMIT  # worked on whole: far over
    ctx = product_job(tmp_path, "marketplace_square", LIMIT)
    assert ctx.failures == []
    result = Image.open(ctx.outputs[0].path).convert("RGB")
    assert result.size == (2000, 2000)
    pixels = np.asarray(result)
    assert (pixels[:40, :40] == 255).all()  # pure white around the product
    red, green, blue = (pixels[900:1100, 900:1100, channel].astype(int) for channel in range(3))
    assert ((red - green > 80) & (red - blue > 80)).mean() > 0.9  # the (normalised) red product


def test_a_preset_that_keeps_the_full_size_is_held_to_the_budget(tmp_path: Path) -> None:
    assert cost("brightness_color_normalization", 7600 * 5100) > LIMIT
    ctx = product_job(tmp_path, "brightness_color_normalization", LIMIT)
    assert ctx.outputs == []
    [failure] = ctx.failures
    assert failure["code"] == "invalid_input"
    assert "MEDIASTUDIO_IMAGE_MEMORY_BYTES" in failure["message"]


def test_a_jpeg_is_decoded_at_a_fraction_of_its_size_when_less_is_needed(tmp_path: Path) -> None:
    gradient = np.linspace(0, 255, 2400 * 1600 * 3).astype(np.uint8).reshape(1600, 2400, 3)
    buffer = io.BytesIO()
    Image.fromarray(gradient).save(buffer, format="JPEG", quality=85)
    jpeg, png = tmp_path / "big.jpg", tmp_path / "big.png"
    jpeg.write_bytes(buffer.getvalue())
    Image.fromarray(gradient).save(png)
    # Room to decode 300x200 pixels (JPEG decodes at 1/8 scale), not 2400x1600.
    budget = MemoryBudget(DECODE_BYTES_PER_PIXEL * 300 * 200, 0, "THE_SETTING")

    small = open_image(jpeg, max_side=300, budget=budget)
    assert small.size == (300, 200) and small.mode == "RGB"
    with pytest.raises(InvalidInput, match="THE_SETTING"):
        open_image(png, max_side=300, budget=budget)  # PNG has to be decoded whole first
    assert open_image(png, max_side=300).size == (300, 200)
