"""What the curated Replicate models hand back for an input: their output plans (the sandbox's
twin of each, see docs/engines.md), from what the models' pages document and the same helpers
the field mapping uses, so the size sent and the size planned cannot drift apart.

- ``prunaai/z-image-turbo``: one image of exactly the ``width`` x ``height`` sent (16-pixel
  steps), in the ``output_format`` sent; no transparency.
- ``minimax/hailuo-2.3`` (text) and ``minimax/hailuo-2.3-fast`` (a first frame): one MP4 of 6
  or 10 s at 768p (default) or 1080p, with no sound. From text the frame is Hailuo's 16:9
  (1366x768 or 1920x1080); from a first frame it keeps the image's aspect ratio, at a size only
  Hailuo decides (planned: the resolution's lines on the short side, flagged as estimated). The
  frame rate (25 fps) and the exact length are not on Replicate's pages: estimates.
- ``black-forest-labs/flux-kontext-pro`` (and fal's ``fal-ai/flux-pro/kontext``): one opaque
  image in the ``output_format`` sent, at Kontext's frame nearest the shape asked for (the
  input image's by default), about a megapixel; only BFL decides the exact frame (estimated).
"""

from __future__ import annotations

from pydantic import BaseModel

from mediastudio.engines.contract import InputFetcher, PlannedOutput
from mediastudio.engines.inputs import ImageEditInput, ImageInput, VideoInput
from mediastudio.engines.media.files import content_type
from mediastudio.engines.providers.media import input_image_size
from mediastudio.engines.providers.replicate import mapping

# Hailuo's frames by resolution: the short side, and the 16:9 frame of a text-only clip.
HAILUO_LINES = {"768p": 768, "1080p": 1080}
HAILUO_TEXT_FRAMES = {"768p": (1366, 768), "1080p": (1920, 1080)}
# Estimated: MiniMax's Hailuo videos are 25 fps, and a "6 s" clip may run a few frames short
# (the first Hailuo's measured 5.64 s); the live length is within this share of the nominal.
HAILUO_FPS = 25
HAILUO_LENGTH_TOLERANCE = 0.1


def z_image_turbo(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """One image of the size sent, in the format asked for."""
    assert isinstance(validated, ImageInput)
    width, height = mapping.z_image_size(validated)
    return [PlannedOutput(content_type(validated.output_format), width=width, height=height)]


def hailuo(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """One silent MP4 of the length and resolution Hailuo renders for this input; refused where
    the engine refuses it (a first frame that is no image, a resolution Hailuo refuses)."""
    assert isinstance(validated, VideoInput)
    first_frame = _first_frame(validated, fetcher)
    resolution = mapping.hailuo_resolution(validated)
    if first_frame is None:
        width, height = HAILUO_TEXT_FRAMES[resolution]
    else:
        width, height = hailuo_frame(*first_frame, lines=HAILUO_LINES[resolution])
    seconds = mapping.hailuo_duration(validated.duration)
    planned = PlannedOutput(
        "video/mp4",
        width=width,
        height=height,
        duration_s=float(seconds),
        fps=HAILUO_FPS,
        has_audio=False,
        duration_tolerance_s=HAILUO_LENGTH_TOLERANCE * seconds,
        size_estimated=first_frame is not None,  # Hailuo alone decides the frame it keeps
    )
    return [planned]


def _first_frame(validated: VideoInput, fetcher: InputFetcher) -> tuple[int, int] | None:
    """The first frame's upright size, if there is one; refused as the engine refuses it."""
    if validated.first_frame_image is None:
        return None
    return input_image_size(validated.first_frame_image, fetcher, "first_frame_image")


def hailuo_frame(width: int, height: int, *, lines: int) -> tuple[int, int]:
    """A frame of the image's aspect ratio with ``lines`` on its short side, both sides even
    (a 16:9 image at 768p: 1366x768, as Hailuo's text-only frame)."""
    short, long = sorted((width, height))
    long_side = 2 * round(lines * long / short / 2)
    return (long_side, lines) if width >= height else (lines, long_side)


def flux_kontext(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """One image at Kontext's frame for the shape asked for (else the input image's); refused
    where the engine refuses the input image."""
    assert isinstance(validated, ImageEditInput)
    width, height = input_image_size(validated.image_url, fetcher, "image_url")
    size = mapping.kontext_size(validated.aspect_ratio, width, height)
    planned = PlannedOutput(
        content_type(validated.output_format),
        width=size[0],
        height=size[1],
        size_estimated=True,  # BFL alone decides the pro model's frame
    )
    return [planned]
