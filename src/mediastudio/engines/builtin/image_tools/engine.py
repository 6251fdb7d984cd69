"""The ``image-tools`` engine: background removal, upscaling and transformations of one user
image each, with Pillow and OpenCV (the algorithms are in :mod:`.ops`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Literal

from PIL import Image
from pydantic import Field

from mediastudio.engines.builtin.image_tools import ops
from mediastudio.engines.contract import Engine, ModelSpec, RunContext
from mediastudio.engines.inputs import StrictInput
from mediastudio.engines.media.images import MAX_INPUT_PIXELS, add_image_output, open_image
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings

IMAGE_URL_DESCRIPTION = (
    "The image: an https URL, a data: URI, or the id of a file uploaded to MediaStudio"
)
MAX_IMAGE_URL = 8_000_000  # room for a data: URI of a few megabytes


ImageUrl = Annotated[
    str, Field(min_length=1, max_length=MAX_IMAGE_URL, description=IMAGE_URL_DESCRIPTION)
]


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
    ),
]


def load(ctx: RunContext, url: str, *, max_pixels: int = MAX_INPUT_PIXELS) -> Image.Image:
    """Fetch and decode the user's image: RGB, or RGBA when it really has transparency."""
    path = ctx.fetcher.fetch(url)
    ctx.check_cancelled()
    image = open_image(path, max_pixels=max_pixels, mode="RGBA")
    alpha = image.getchannel("A")
    if alpha.getextrema()[0] == 255:
        return image.convert("RGB")
    return image


def remove_background(ctx: RunContext) -> None:
    assert isinstance(ctx.input, RemoveBackgroundInput)
    image = load(ctx, ctx.input.image_url).convert("RGB")
    ctx.progress(0.2)
    ctx.check_cancelled()
    cutout = ops.remove_background(image)
    ctx.progress(0.8)
    ctx.check_cancelled()
    add_image_output(ctx, cutout, ctx.input.output_format)


def upscale(ctx: RunContext) -> None:
    assert isinstance(ctx.input, UpscaleInput)
    scale = ctx.input.scale
    # Bounded by the output: refuse inputs whose enlargement would pass the cap, before decoding.
    image = load(ctx, ctx.input.image_url, max_pixels=ops.UPSCALE_MAX_OUTPUT_PIXELS // scale**2)
    ctx.progress(0.2)
    ctx.check_cancelled()
    result = ops.upscale(image, scale)
    ctx.progress(0.8)
    ctx.check_cancelled()
    add_image_output(ctx, result, ctx.input.output_format, scale=scale)


def transform(ctx: RunContext) -> None:
    assert isinstance(ctx.input, TransformInput)
    image = load(ctx, ctx.input.image_url)
    ctx.progress(0.2)
    ctx.check_cancelled()
    result = ops.transform(image, ctx.input.transformation, ctx.input.strength)
    ctx.progress(0.8)
    ctx.check_cancelled()
    add_image_output(ctx, result, ctx.input.output_format, transformation=ctx.input.transformation)


class ImageToolsEngine(Engine):
    name = "image-tools"

    def __init__(self) -> None:
        self._runs: dict[str, Callable[[RunContext], None]] = {
            "builtin/remove-background": remove_background,
            "builtin/upscale": upscale,
            "builtin/image-transform": transform,
        }

    def models(self) -> Sequence[ModelSpec]:
        return MODELS

    def run(self, ctx: RunContext) -> None:
        ctx.progress(0.05)
        self._runs[ctx.model.id](ctx)
        ctx.progress(1.0)


def engine(settings: Settings, registry: EngineRegistry) -> Engine:
    return ImageToolsEngine()
