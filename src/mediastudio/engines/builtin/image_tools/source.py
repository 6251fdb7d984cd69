"""Fetching and decoding the user's image for every image tool, and reading its header alone
for the tools' output plans."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from PIL import Image
from pydantic import Field

from mediastudio.engines.contract import InputFetcher, RunContext
from mediastudio.engines.media.images import (
    MAX_INPUT_PIXELS,
    ImageHeader,
    MemoryBudget,
    open_image,
    read_header,
)

IMAGE_URL_DESCRIPTION = (
    "The image: an https URL, a data: URI, or the id of a file uploaded to MediaStudio"
)
MAX_IMAGE_URL = 8_000_000  # room for a data: URI of a few megabytes
MEMORY_SETTING = "MEDIASTUDIO_IMAGE_MEMORY_BYTES"
DEFAULT_MEMORY_BYTES = 1024 * 1024 * 1024


@dataclass(frozen=True)
class JobMemory:
    """The memory an image-tool job may use; each operation turns it into a budget with its
    own cost per pixel."""

    limit_bytes: int = DEFAULT_MEMORY_BYTES

    def budget(self, work_bytes_per_pixel: int) -> MemoryBudget:
        return MemoryBudget(self.limit_bytes, work_bytes_per_pixel, MEMORY_SETTING)


ImageUrl = Annotated[
    str, Field(min_length=1, max_length=MAX_IMAGE_URL, description=IMAGE_URL_DESCRIPTION)
]


def load(
    ctx: RunContext,
    url: str,
    budget: MemoryBudget,
    *,
    max_pixels: int = MAX_INPUT_PIXELS,
    max_side: int | None = None,
) -> Image.Image:
    """Fetch and decode the user's image: RGB, or RGBA when it really has transparency.
    Refused before decoding when processing it would pass ``budget``; no longer than
    ``max_side`` when given (decoded smaller where the format allows)."""
    path = ctx.fetcher.fetch(url)
    ctx.check_cancelled()
    image = open_image(path, max_pixels=max_pixels, mode="RGBA", max_side=max_side, budget=budget)
    alpha = image.getchannel("A")
    if alpha.getextrema()[0] == 255:
        return image.convert("RGB")
    return image


def probe(fetcher: InputFetcher, url: str, *, max_pixels: int = MAX_INPUT_PIXELS) -> ImageHeader:
    """What :func:`load` would give (upright size; RGBA only with real transparency) and the same
    refusals, from the image's header: for output plans, which must not do the work."""
    return read_header(fetcher.fetch(url), max_pixels=max_pixels)
