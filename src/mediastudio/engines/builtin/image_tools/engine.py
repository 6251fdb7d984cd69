"""The ``image-tools`` engine: background removal, upscaling and transformations of one user
image each, with Pillow and OpenCV (the algorithms are in :mod:`.ops`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from mediastudio.engines.builtin.image_tools import ops
from mediastudio.engines.builtin.image_tools.product import (
    ProductEnhanceInput,
    plan_product,
    run_product,
)
from mediastudio.engines.builtin.image_tools.source import ImageUrl, JobMemory, load, probe
from mediastudio.engines.contract import Engine, InputFetcher, ModelSpec, PlannedOutput, RunContext
from mediastudio.engines.inputs import StrictInput
from mediastudio.engines.media.images import add_image_output, planned_image
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings


class RemoveBackgroundInput(StrictInput):
    image_url: ImageUrl
    output_format: Literal["png", "webp"] = Field(
        "png", description="File format; both keep transparency"
    )


class UpscaleInput(StrictInput):
    image_url: ImageUrl
    scale: Literal[2, 4] = Field(2, description="Enlargement factor")
    output_format: Literal["png", "webp", "jpg"] = Field("png", description="File format")


class TransformInput(StrictInput):
    image_url: ImageUrl
    transformation: ops.Transformation = Field(description="The filter or style to apply")
    strength: float = Field(
        0.7, ge=0.0, le=1.0, description="How strongly: 0 keeps the original, 1 is the full effect"
    )
    output_format: Literal["png", "webp", "jpg"] = Field("png", description="File format")


# Output plans: each tool's output, known from the input image's header (see ModelSpec.plan).


def plan_remove_background(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """The cut-out: RGBA at the input's size."""
    assert isinstance(validated, RemoveBackgroundInput)
    header = probe(fetcher, validated.image_url)
    return [planned_image(validated.output_format, header.width, header.height, alpha=True)]


def plan_upscale(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """``scale`` times the input's size, with alpha when the input has transparency."""
    assert isinstance(validated, UpscaleInput)
    scale = validated.scale
    header = probe(fetcher, validated.image_url, max_pixels=upscale_input_limit(scale))
    width, height = header.width * scale, header.height * scale
    return [
        planned_image(validated.output_format, width, height, alpha=header.transparent, scale=scale)
    ]


def plan_transform(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """The input's size, with alpha when the input has transparency."""
    assert isinstance(validated, TransformInput)
    header = probe(fetcher, validated.image_url)
    return [
        planned_image(
            validated.output_format,
            header.width,
            header.height,
            alpha=header.transparent,
            transformation=validated.transformation,
        )
    ]


def upscale_input_limit(scale: int) -> int:
    """Bounded by the output: an input whose enlargement would pass the cap is refused."""
    return ops.UPSCALE_MAX_OUTPUT_PIXELS // scale**2


MODELS = [
    ModelSpec(
        id="builtin/remove-background",
        name="Background removal (classical)",
        type="background-removal",
        input_model=RemoveBackgroundInput,
        credits=2,
        description=(
            "Cuts the main object out of a photo on a plain or studio background: a transparent "
            "PNG or WebP. Colour modelling and GrabCut; no model weights."
        ),
        category="image-tools",
        output_kind="image",
        timeout_s=300,
        plan=plan_remove_background,
    ),
    ModelSpec(
        id="builtin/upscale",
        name="Upscale x2 / x4 (classical)",
        type="upscale",
        input_model=UpscaleInput,
        credits=3,
        description=(
            "Enlarges an image 2 or 4 times with Lanczos, edge sharpening and back-projection; "
            "sharper edges than plain resampling. Output at most 16.7 Mpx."
        ),
        category="image-tools",
        output_kind="image",
        timeout_s=300,
        plan=plan_upscale,
    ),
    ModelSpec(
        id="builtin/image-transform",
        name="Image filters and styles",
        type="image-transform",
        input_model=TransformInput,
        credits=1,
        description=(
            "grayscale, sepia, vintage, cartoon, pencil-sketch, watercolor, or enhance (auto "
            "levels, contrast, denoise, sharpen), blended with the original by strength."
        ),
        category="image-tools",
        output_kind="image",
        timeout_s=300,
        plan=plan_transform,
    ),
    ModelSpec(
        id="builtin/product-enhance",
        name="Product photo enhancement",
        type="product-enhancement",
        input_model=ProductEnhanceInput,
        credits=2,
        price_unit="output",
        description=(
            "A batch of 1-20 product photos through one preset (white background, marketplace "
            "square, neutral backdrop, colour normalisation); one output per item, charged per "
            "item, a failed item refunded alone."
        ),
        category="image-tools",
        output_kind="image",
        timeout_s=900,
        plan=plan_product,
    ),
]


def remove_background(ctx: RunContext, memory: JobMemory) -> None:
    assert isinstance(ctx.input, RemoveBackgroundInput)
    budget = memory.budget(ops.REMOVE_BACKGROUND_BYTES_PER_PIXEL)
    image = load(ctx, ctx.input.image_url, budget).convert("RGB")
    ctx.progress(0.2)
    ctx.check_cancelled()
    cutout = ops.remove_background(image)
    ctx.progress(0.8)
    ctx.check_cancelled()
    add_image_output(ctx, cutout, ctx.input.output_format)


def upscale(ctx: RunContext, memory: JobMemory) -> None:
    assert isinstance(ctx.input, UpscaleInput)
    scale = ctx.input.scale
    # Bounded by the output: refuse inputs whose enlargement would pass the cap, before decoding.
    budget = memory.budget(ops.UPSCALE_BYTES_PER_OUTPUT_PIXEL * scale**2)
    image = load(ctx, ctx.input.image_url, budget, max_pixels=upscale_input_limit(scale))
    ctx.progress(0.2)
    ctx.check_cancelled()
    result = ops.upscale(image, scale)
    ctx.progress(0.8)
    ctx.check_cancelled()
    add_image_output(ctx, result, ctx.input.output_format, scale=scale)


def transform(ctx: RunContext, memory: JobMemory) -> None:
    assert isinstance(ctx.input, TransformInput)
    name = ctx.input.transformation
    image = load(ctx, ctx.input.image_url, memory.budget(ops.TRANSFORM_BYTES_PER_PIXEL[name]))
    ctx.progress(0.2)
    ctx.check_cancelled()
    result = ops.transform(image, name, ctx.input.strength)
    ctx.progress(0.8)
    ctx.check_cancelled()
    add_image_output(ctx, result, ctx.input.output_format, transformation=name)


class ImageToolsEngine(Engine):
    name = "image-tools"

    def __init__(self, memory: JobMemory | None = None) -> None:
        self.memory = memory or JobMemory()
        self._runs: dict[str, Callable[[RunContext, JobMemory], None]] = {
            "builtin/remove-background": remove_background,
            "builtin/upscale": upscale,
            "builtin/image-transform": transform,
            "builtin/product-enhance": run_product,
        }

    def models(self) -> Sequence[ModelSpec]:
        return MODELS

    def run(self, ctx: RunContext) -> None:
        ctx.progress(0.05)
        self._runs[ctx.model.id](ctx, self.memory)
        ctx.progress(1.0)


def engine(settings: Settings, registry: EngineRegistry) -> Engine:
    return ImageToolsEngine(JobMemory(settings.image_memory_bytes))
