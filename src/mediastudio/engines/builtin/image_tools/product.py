"""``builtin/product-enhance``: a batch of 1-20 product photos through one preset (seed 004).

One generation, one output per item, in item order. An item that cannot be processed (its URL
cannot be fetched, its file is not an image, no product is found in it) fails alone through
``ctx.output_failed`` with its ``index`` and ``external_id``: the job ends
``partially_completed`` and only that item's share is refunded.
"""

from __future__ import annotations

import errno
import logging
from typing import Literal

from pydantic import BaseModel, Field

from mediastudio.engines.builtin.image_tools.presets import PRESETS, NoProductFound, PresetId
from mediastudio.engines.builtin.image_tools.source import ImageUrl, JobMemory, load, probe
from mediastudio.engines.contract import (
    EngineError,
    InputFetcher,
    JobCancelled,
    Planned,
    PlannedFailure,
    RunContext,
)
from mediastudio.engines.inputs import StrictInput
from mediastudio.engines.media.images import add_image_output, planned_image

logger = logging.getLogger("mediastudio.engines.image_tools")

MAX_ITEMS = 20


class ProductItem(StrictInput):
    image_url: ImageUrl
    external_id: str | None = Field(
        None, min_length=1, max_length=200, description="Your own id for this item (e.g. a SKU)"
    )


class ProductEnhanceInput(StrictInput):
    preset: PresetId = Field(description="How to enhance every item (GET .../presets lists them)")
    items: list[ProductItem] = Field(
        min_length=1, max_length=MAX_ITEMS, description="The product photos, 1 to 20"
    )
    output_format: Literal["jpg", "png", "webp"] = Field("jpg", description="File format")

    @property
    def num_outputs(self) -> int:
        """One output per item: the price is per item (``price_unit="output"``)."""
        return len(self.items)


def run_product(ctx: RunContext, memory: JobMemory) -> None:
    assert isinstance(ctx.input, ProductEnhanceInput)
    preset = PRESETS[ctx.input.preset]
    budget = memory.budget(preset.work_bytes_per_pixel)
    count = len(ctx.input.items)
    for index, item in enumerate(ctx.input.items):
        ctx.check_cancelled()
        extra = {"index": index, "external_id": item.external_id}
        try:
            image = load(ctx, item.image_url, budget, max_side=preset.max_side).convert("RGB")
            ctx.check_cancelled()
            result = preset.apply(image)
            add_image_output(ctx, result, ctx.input.output_format, **extra)
        except JobCancelled:
            raise
        except EngineError as exc:
            ctx.output_failed(exc.code, exc.message, **extra)
        except NoProductFound as exc:
            ctx.output_failed("invalid_input", str(exc), **extra)
        except Exception as exc:  # one item's crash must not lose the others' results
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                # Every later item would fail the same way: keep what is done, stop here.
                logger.warning("disk full on product item %d: %s", index, exc)
                _out_of_space(ctx, index)
                return
            logger.exception("product preset %s crashed on item %d", preset.id, index)
            ctx.output_failed("engine_error", "This item could not be processed.", **extra)
        ctx.progress(0.05 + 0.95 * (index + 1) / count)


def plan_product(validated: BaseModel, fetcher: InputFetcher) -> list[Planned]:
    """One RGB image per item at its preset's size; an item whose image cannot be fetched or
    read fails alone, as in :func:`run_product`. (Whether a product is found in a photo is only
    known by running the cut-out.)"""
    assert isinstance(validated, ProductEnhanceInput)
    preset = PRESETS[validated.preset]
    planned: list[Planned] = []
    for index, item in enumerate(validated.items):
        extra = {"index": index, "external_id": item.external_id}
        try:
            header = probe(fetcher, item.image_url)
        except EngineError as exc:
            planned.append(PlannedFailure(exc.code, exc.message, extra))
            continue
        width, height = preset.output_size(header.width, header.height)
        planned.append(planned_image(validated.output_format, width, height, alpha=False, **extra))
    return planned


def _out_of_space(ctx: RunContext, first: int) -> None:
    assert isinstance(ctx.input, ProductEnhanceInput)
    for index in range(first, len(ctx.input.items)):
        external_id = ctx.input.items[index].external_id
        ctx.output_failed(
            "storage_full",
            "The server ran out of disk space before this item was done.",
            index=index,
            external_id=external_id,
        )
