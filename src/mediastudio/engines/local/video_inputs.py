"""The input of a local video diffusion model (text to video, image to video), its frame size
and count, and its output plan: no torch here, so the catalog, the sandbox and the plan work
without the ``[local]`` extra."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from mediastudio.engines.contract import InputFetcher, OutputPlanner, Planned
from mediastudio.engines.inputs import VideoInput, dimensions_from_aspect
from mediastudio.engines.local.inputs import seeds
from mediastudio.engines.media.video import planned_video

# Video pipelines check their frame sizes against the VAE's and the transformer's patches: LTX
# wants multiples of 32, Wan 16, SVD 8. Multiples of 32 suit them all.
VIDEO_SIZE_STEP = 32
VIDEO_MIN_SIDE = 32
VIDEO_MAX_SIDE = 1280
NATIVE_LONG_SIDE = 704  # LTX-Video's default frame is 704x480: the long side an aspect ratio gets
MAX_FRAMES = 257  # LTX-Video's longest clip


class LocalVideoInput(VideoInput):
    """The standard video input (prompt and/or first_frame_image, duration, aspect_ratio, fps,
    seed) with the knobs of a diffusion pipeline: an exact frame count and size, steps,
    guidance and a negative prompt."""

    negative_prompt: str | None = Field(None, max_length=2000, description="What to avoid")
    width: int | None = Field(
        None,
        ge=VIDEO_MIN_SIDE,
        le=VIDEO_MAX_SIDE,
        description="Frame width in pixels (rounded down to a multiple of 32); with height, "
        "wins over aspect_ratio",
    )
    height: int | None = Field(
        None,
        ge=VIDEO_MIN_SIDE,
        le=VIDEO_MAX_SIDE,
        description="Frame height in pixels (rounded down to a multiple of 32)",
    )
    num_frames: int | None = Field(
        None,
        ge=2,
        le=MAX_FRAMES,
        description="Frames to make (instead of duration x fps + 1); rounded down to what the "
        "model makes: a multiple of its VAE's time step plus one (LTX-Video: 8k + 1)",
    )
    steps: int | None = Field(
        None, ge=1, le=150, description="Denoising steps; default: the pipeline's own"
    )
    guidance_scale: float | None = Field(
        None, ge=0, le=30, description="How closely to follow the prompt; default: the pipeline's"
    )


def _vae_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / "vae" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def temporal_step(folder: Path) -> int:
    """How many frames one latent frame becomes: the VAE's temporal compression (LTX-Video: 8,
    from its config the way diffusers computes it), 1 for a VAE that does not compress time."""
    config = _vae_config(folder)
    explicit = config.get("temporal_compression_ratio")
    if isinstance(explicit, int) and explicit > 0:
        return explicit
    scaling = config.get("spatio_temporal_scaling")
    patch = config.get("patch_size_t", 1)
    if isinstance(scaling, list) and isinstance(patch, int):
        halvings: int = sum(1 for scaled in scaling if scaled)
        return max(1, patch * (1 << halvings))
    return 1


def frame_count(validated: LocalVideoInput, step: int) -> int:
    """The frames the video will have: ``num_frames``, else ``duration x fps + 1``, rounded
    down to ``step``k + 1 (what the pipeline decodes: fewer latent frames would lose some)."""
    wanted = validated.num_frames or validated.duration * validated.fps + 1
    wanted = min(wanted, MAX_FRAMES)
    return max(step + 1, wanted - (wanted - 1) % step) if step > 1 else max(2, wanted)


def _snap(side: int) -> int:
    return max(VIDEO_SIZE_STEP, side - side % VIDEO_SIZE_STEP)


def frame_size(validated: LocalVideoInput) -> tuple[int, int]:
    """width/height as asked (the other side from the aspect ratio), else the aspect ratio at
    LTX-Video's long side; multiples of 32."""
    width, height = dimensions_from_aspect(validated.aspect_ratio, NATIVE_LONG_SIDE)
    if validated.width is not None or validated.height is not None:
        if validated.width is not None and validated.height is not None:
            width, height = validated.width, validated.height
        elif validated.width is not None:
            width, height = validated.width, round(validated.width * height / width)
        elif validated.height is not None:
            width, height = round(validated.height * width / height), validated.height
    return _snap(width), _snap(height)


def video_planner(folder: Path) -> OutputPlanner:
    step = temporal_step(folder)

    def plan(validated: BaseModel, fetcher: InputFetcher) -> Sequence[Planned]:
        assert isinstance(validated, LocalVideoInput)
        width, height = frame_size(validated)
        first = validated.seed if validated.seed is not None else 0
        [seed] = seeds(validated, first)
        frames = frame_count(validated, step)
        return [planned_video(width, height, frames, validated.fps, has_audio=False, seed=seed)]

    return plan
