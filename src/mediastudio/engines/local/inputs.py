"""The input of a local diffusion model, its output sizes and its output plan: no torch here, so
the catalog, the sandbox and the plan work without the ``[local]`` extra."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from mediastudio.engines.contract import InputFetcher, OutputPlanner, Planned
from mediastudio.engines.inputs import ImageInput, dimensions_from_aspect
from mediastudio.engines.media.images import ImageHeader, planned_image, read_header

# Diffusion pipelines work on latents 1/8 of the image (the VAE's scale): sizes are multiples.
SIZE_STEP = 8
MIN_SIDE = 64
DEFAULT_SIDE = 1024  # a pipeline whose configs name no native size (FLUX, SD3 are 1024)
MAX_INPUT_IMAGE_BYTES = 50 * 1024 * 1024

# Names accepted as ``scheduler`` → the diffusers class each one builds from the model's own
# scheduler config (so its betas and timestep spacing are the model's).
SCHEDULERS: dict[str, str] = {
    "ddim": "DDIMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_ancestral": "EulerAncestralDiscreteScheduler",
    "dpm_multistep": "DPMSolverMultistepScheduler",
    "pndm": "PNDMScheduler",
    "lms": "LMSDiscreteScheduler",
    "unipc": "UniPCMultistepScheduler",
}
SchedulerName = Literal["ddim", "euler", "euler_ancestral", "dpm_multistep", "pndm", "lms", "unipc"]


class LocalImageInput(ImageInput):
    """The standard image input, with the knobs of a diffusion pipeline and an optional image
    to start from (image to image)."""

    width: int | None = Field(
        None, ge=MIN_SIDE, le=2048, description="Width in pixels (rounded down to a multiple of 8)"
    )
    height: int | None = Field(
        None, ge=MIN_SIDE, le=2048, description="Height in pixels (rounded down to a multiple of 8)"
    )
    image_url: str | None = Field(
        None,
        min_length=1,
        max_length=8_000_000,
        description="An image to start from (image to image): an uploaded file's id, a URL or a "
        "data: URI. The output keeps its shape unless width/height or aspect_ratio say otherwise",
    )
    strength: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Image to image: how far from the image to go (1 ignores it); the steps run "
        "are about steps * strength",
    )
    steps: int | None = Field(
        None, ge=1, le=150, description="Denoising steps; default: the pipeline's own"
    )
    guidance_scale: float | None = Field(
        None, ge=0, le=30, description="How closely to follow the prompt; default: the pipeline's"
    )
    scheduler: SchedulerName | None = Field(
        None, description="The sampler; default: the one the model was saved with"
    )


def native_side(folder: Path) -> int:
    """The side the model was trained at: the UNet's sample size times the VAE's scale (512 for
    SD 1.5, 1024 for SDXL), else :data:`DEFAULT_SIDE`. Read from the configs, cheap."""
    try:
        unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
        vae = json.loads((folder / "vae" / "config.json").read_text(encoding="utf-8"))
        sample: Any = unet["sample_size"]
        scale = 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_SIDE
    side = int(sample[0] if isinstance(sample, list) else sample) * int(scale)
    return max(MIN_SIDE, side)


def _snap(side: int) -> int:
    return max(SIZE_STEP, side - side % SIZE_STEP)


def output_size(
    validated: LocalImageInput, native: int, source: ImageHeader | None
) -> tuple[int, int]:
    """The size of each output: width/height as asked, else the aspect ratio at the model's
    native side, else the source image's shape fitted in the native side, else native square;
    always multiples of 8."""
    if validated.width is not None or validated.height is not None:
        width, height = validated.width or native, validated.height or native
    elif validated.aspect_ratio is not None:
        width, height = dimensions_from_aspect(validated.aspect_ratio, native)
    elif source is not None:
        scale = native / max(source.width, source.height)
        width, height = round(source.width * scale), round(source.height * scale)
    else:
        width, height = native, native
    return _snap(width), _snap(height)


def source_header(validated: LocalImageInput, fetcher: InputFetcher) -> ImageHeader | None:
    if validated.image_url is None:
        return None
    return read_header(fetcher.fetch(validated.image_url, max_bytes=MAX_INPUT_IMAGE_BYTES))


def seeds(validated: BaseModel, first: int) -> list[int]:
    """One seed per output: consecutive from the first, so one seed reproduces the batch."""
    count = max(1, int(getattr(validated, "num_outputs", 1)))
    return [(first + index) % 2**32 for index in range(count)]


def planner(folder: Path) -> OutputPlanner:
    native = native_side(folder)

    def plan(validated: BaseModel, fetcher: InputFetcher) -> Sequence[Planned]:
        assert isinstance(validated, LocalImageInput)
        width, height = output_size(validated, native, source_header(validated, fetcher))
        # The seed is the real one when asked for; a random one is only known when the job runs.
        first = validated.seed if validated.seed is not None else 0
        return [
            planned_image(validated.output_format, width, height, alpha=False, seed=seed)
            for seed in seeds(validated, first)
        ]

    return plan
