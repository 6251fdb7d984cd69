"""Product presets and the batch model: each preset's result as an image, and one bad item
failing alone with its index and external_id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mediastudio.engines.builtin.image_tools.engine import MODELS, ImageToolsEngine
from mediastudio.engines.builtin.image_tools.presets import PRESETS, NoProductFound
from mediastudio.engines.builtin.image_tools.product import ProductEnhanceInput
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher
from tests.engines.image_scenes import bytes_uri, data_uri, product_shot

SPEC = next(spec for spec in MODELS if spec.id == "builtin/product-enhance")


def test_white_background_is_a_padded_centred_square_on_white() -> None:
    shot, _ = product_shot(320, 240)
    result = np.asarray(PRESETS["single_product_white_background"].apply(shot))
    assert result.shape == (800, 800, 3)
    assert (result[:40] >= 254).all() and (result[:, :40] >= 254).all()  # white margins
    product = (np.abs(result.astype(int) - 255).sum(axis=2) > 60).nonzero()
    rows, cols = product
    assert rows.min() >= 0.08 * 800 and rows.max() <= 0.95 * 800  # padded (shadow below)
    assert abs((cols.min() + cols.max()) / 2 - 400) < 12  # centred
    shadow_band = result[rows.max() - 5 : rows.max() + 10, 300:500]
    assert shadow_band.min() < 240  # a soft contact shadow under the product


def test_marketplace_square_is_pure_white_and_at_least_1000px() -> None:
    shot, _ = product_shot(320, 240)
    result = np.asarray(PRESETS["marketplace_square"].apply(shot))
    assert result.shape == (1000, 1000, 3)
    corners = np.concatenate([result[:60, :60], result[-60:, -60:], result[-60:, :60]])
    assert (corners == 255).all()
    height = np.flatnonzero((result < 200).any(axis=(1, 2)))
    assert 0.8 * 1000 <= height.max() - height.min() + 1 <= 0.86 * 1000  # fills 85 %


def test_lifestyle_backdrop_is_neutral_and_not_white() -> None:
    shot, _ = product_shot(320, 240)
    result = np.asarray(PRESETS["lifestyle_neutral_backdrop"].apply(shot), dtype=int)
    corner = result[:50, :50].reshape(-1, 3).mean(axis=0)
    assert 200 < corner.mean() < 245 and corner[0] >= corner[2]  # light, warm grey


def test_normalisation_evens_out_exposure() -> None:
    shot, _ = product_shot(320, 240)
    dark = Image.fromarray((np.asarray(shot) * 0.45).astype(np.uint8))
    fixed = PRESETS["brightness_color_normalization"].apply(dark)
    assert fixed.size == shot.size
    assert abs(np.asarray(fixed).mean() - np.asarray(shot).mean()) < 20
    assert np.asarray(dark).mean() < 100


def test_a_blank_photo_has_no_product() -> None:
    with pytest.raises(NoProductFound):
        PRESETS["marketplace_square"].apply(Image.new("RGB", (200, 150), (240, 240, 240)))


def test_a_batch_with_a_corrupt_item_fails_that_item_alone(tmp_path: Path) -> None:
    shot, _ = product_shot(200, 150)
    validated = ProductEnhanceInput.model_validate(
        {
            "preset": "single_product_white_background",
            "items": [
                {"image_url": data_uri(shot), "external_id": "sku-1"},
                {"image_url": bytes_uri(b"not an image"), "external_id": "sku-2"},
                {"image_url": data_uri(shot)},
            ],
        }
    )
    assert SPEC.units(validated) == 3
    ctx = JobContext(
        generation_id="gen_test",
        model=SPEC,
        input=validated,
        sandbox=False,
        workdir=tmp_path,
        fetcher=SafeFetcher(tmp_path, NetPolicy()),
    )
    ImageToolsEngine().run(ctx)
    assert [o.extra for o in ctx.outputs] == [
        {"index": 0, "external_id": "sku-1"},
        {"index": 2, "external_id": None},
    ]
    assert Image.open(ctx.outputs[0].path).format == "JPEG"
    assert len(ctx.failures) == 1
    failure = ctx.failures[0]
    assert failure["index"] == 1 and failure["external_id"] == "sku-2"
    assert failure["code"] == "invalid_input"
