"""Social variants: one source (image or video) made into one video per platform, each in that
platform's aspect, size and length limit.

A video is decoded once and every variant is encoded from the same frames: reframed (centre crop
when the crop keeps most of the picture, else the whole picture over a blurred copy of itself),
trimmed to the platform's limit, with the source's sound. An image becomes a short still video
with a gentle zoom and a silent audio track.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

import numpy as np
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field, model_validator

from mediastudio.engines.builtin.video_tools.frames import (
    BATCH,
    Reframe,
    choose_reframe,
    frames_on_grid,
    grid_frames,
    output_rate,
    reframer,
)
from mediastudio.engines.builtin.video_tools.image_to_video import Camera, animate, frame_count
from mediastudio.engines.contract import (
    InputFetcher,
    InvalidInput,
    ModelSpec,
    OutputFile,
    PlannedOutput,
    RunContext,
)
from mediastudio.engines.inputs import StrictInput, dimensions_from_aspect
from mediastudio.engines.media.audio import read_audio
from mediastudio.engines.media.images import open_image, read_header
from mediastudio.engines.media.video import AUDIO_RATE, VideoInfo, VideoWriter, planned_video, probe

PlatformName = Literal["instagram", "tiktok", "youtube-shorts", "twitter", "linkedin"]
LONG_SIDE_CAP = 1280  # CPU-friendly: platforms take 1080x1920, and upscale 720x1280 well
MAX_FPS = 30
MAX_SOURCE_SECONDS = 30 * 60.0
STILL_ZOOM = 1.08
STILL_FPS = 30


@dataclass(frozen=True)
class Platform:
    name: str
    aspect: str  # W:H
    long_side: int  # the platform's recommended size
    max_seconds: float  # longest video the platform takes in its main short-form placement

    def size(self) -> tuple[int, int]:
        return dimensions_from_aspect(self.aspect, min(self.long_side, LONG_SIDE_CAP))


PLATFORMS: dict[str, Platform] = {
    "instagram": Platform("instagram", "4:5", 1350, 60),  # feed video, 1080x1350
    "tiktok": Platform("tiktok", "9:16", 1920, 60),
    "youtube-shorts": Platform("youtube-shorts", "9:16", 1920, 60),
    "twitter": Platform("twitter", "16:9", 1280, 140),
    "linkedin": Platform("linkedin", "1:1", 1080, 600),
}


class SocialVariantsInput(StrictInput):
    source_url: str = Field(
        min_length=1,
        max_length=8_000_000,
        description="An image or a video: an https URL, a data: URI or an uploaded file's URL",
    )
    platforms: list[PlatformName] = Field(
        min_length=1,
        max_length=5,
        description="One output per platform, in this order",
        json_schema_extra={"uniqueItems": True},  # what _platforms_once checks
    )
    reframe: Reframe = Field(
        "auto",
        description="crop: fill the frame, cutting the sides; blur: the whole picture over a "
        "blurred copy; auto: crop when that keeps at least 75% of the picture",
    )
    max_duration: float | None = Field(
        None, ge=1, le=600, description="Trim every variant to this many seconds at most"
    )
    image_duration: int = Field(5, ge=1, le=15, description="Length of a video made from an image")

    @model_validator(mode="after")
    def _platforms_once(self) -> Self:
        if len(set(self.platforms)) != len(self.platforms):
            raise ValueError("each platform may appear once")
        return self

    @property
    def num_outputs(self) -> int:
        return len(self.platforms)


def image_seconds(validated: SocialVariantsInput, platform: Platform) -> float:
    """How long the still video made from an image runs on ``platform``."""
    duration = float(validated.image_duration)
    if validated.max_duration is not None:
        duration = min(duration, validated.max_duration)
    return min(duration, platform.max_seconds)


def video_lengths(validated: SocialVariantsInput, platforms: list[Platform]) -> list[float]:
    """Where each platform's variant of a video is cut (before the source's own end)."""
    limit = validated.max_duration or float("inf")
    return [min(platform.max_seconds, limit) for platform in platforms]


def plan_outputs(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """One MP4 per platform, in its size; its length, frame rate, sound and reframing follow
    from the source's header (an image: a still video with a silent track)."""
    assert isinstance(validated, SocialVariantsInput)
    source = fetcher.fetch(validated.source_url)
    platforms = [PLATFORMS[name] for name in validated.platforms]
    if is_image(source):
        header = read_header(source)
        return [
            _planned_still(validated, platform, header.width, header.height)
            for platform in platforms
        ]
    info = probe(source, max_seconds=MAX_SOURCE_SECONDS)
    fps = output_rate(info.fps, MAX_FPS)
    planned = []
    for platform, length in zip(platforms, video_lengths(validated, platforms), strict=True):
        width, height = platform.size()
        mode = choose_reframe(validated.reframe, info.width, info.height, width, height)
        frames = grid_frames(min(length, info.picture_s), fps)
        extra = _extra(platform, mode, source="video", trimmed=_trimmed(validated, platform, info))
        planned.append(
            planned_video(
                width, height, frames, fps, has_audio=info.has_audio, audio_channels=2, **extra
            )
        )
    return planned


def _planned_still(
    validated: SocialVariantsInput, platform: Platform, width: int, height: int
) -> PlannedOutput:
    target_w, target_h = platform.size()
    mode = choose_reframe(validated.reframe, width, height, target_w, target_h)
    frames = frame_count(image_seconds(validated, platform), STILL_FPS)
    return PlannedOutput(
        "video/mp4",
        width=target_w,
        height=target_h,
        duration_s=frames / STILL_FPS,
        fps=STILL_FPS,
        has_audio=True,
        extra=_extra(platform, mode, source="image", trimmed=False),
    )


SPEC = ModelSpec(
    id="builtin/social-variants",
    name="Social media variants",
    type="social-variants",
    input_model=SocialVariantsInput,
    credits=2,
    price_unit="output",
    description="One video per platform (instagram, tiktok, youtube-shorts, twitter, linkedin) "
    "in its aspect, size and length limit, from an image or a video.",
    category="video",
    timeout_s=1800,
    output_kind="video",
    plan=plan_outputs,
)


def is_image(path: Path) -> bool:
    """Whether Pillow recognises the file (images are tried before video)."""
    try:
        with Image.open(path):
            return True
    except Image.DecompressionBombError:
        return True  # an image: open_image refuses it with invalid_input
    except (UnidentifiedImageError, OSError, ValueError):
        return False


def run(ctx: RunContext) -> None:
    validated = ctx.input
    assert isinstance(validated, SocialVariantsInput)
    source = ctx.fetcher.fetch(validated.source_url)
    ctx.check_cancelled()
    platforms = [PLATFORMS[name] for name in validated.platforms]
    if is_image(source):
        _from_image(ctx, source, platforms, validated)
    else:
        _from_video(ctx, source, platforms, validated)
    ctx.progress(1.0)


def _from_image(
    ctx: RunContext, source: Path, platforms: list[Platform], validated: SocialVariantsInput
) -> None:
    picture = np.asarray(open_image(source, mode="RGB"), dtype=np.uint8)
    height, width = picture.shape[:2]
    for number, platform in enumerate(platforms):
        target_w, target_h = platform.size()
        mode = choose_reframe(validated.reframe, width, height, target_w, target_h)
        # Composed a little larger than the output, so the zoom never enlarges.
        big_w, big_h = round(target_w * STILL_ZOOM), round(target_h * STILL_ZOOM)
        composed = reframer(mode, width, height, big_w, big_h)(picture)
        cameras = (Camera(big_w / 2, big_h / 2, 1.0), Camera(big_w / 2, big_h / 2, STILL_ZOOM))
        output = animate(
            ctx,
            composed,
            target_w,
            target_h,
            fps=STILL_FPS,
            duration_s=image_seconds(validated, platform),
            cameras=cameras,
            silent_audio=True,
            progress_span=(number / len(platforms), (number + 1) / len(platforms)),
        )
        output.extra = _extra(platform, mode, source="image", trimmed=False)
        ctx.add_output(output)


def _from_video(
    ctx: RunContext, source: Path, platforms: list[Platform], validated: SocialVariantsInput
) -> None:
    info = probe(source, max_seconds=MAX_SOURCE_SECONDS)
    fps = output_rate(info.fps, MAX_FPS)
    lengths = video_lengths(validated, platforms)
    until = min(max(lengths), info.duration_s) if info.duration_s > 0 else max(lengths)
    audio = (
        read_audio(
            source,
            rate=AUDIO_RATE,
            mono=False,
            until_s=until + 0.1,
            check_cancelled=ctx.check_cancelled,
        )
        if info.has_audio
        else None
    )
    ctx.progress(0.05)
    sizes = [platform.size() for platform in platforms]
    modes = [choose_reframe(validated.reframe, info.width, info.height, w, h) for w, h in sizes]
    # Frames come out of the decoder at the source's size, which probe reported.
    reframes = [
        reframer(mode, info.width, info.height, w, h)
        for mode, (w, h) in zip(modes, sizes, strict=True)
    ]
    paths = [ctx.output_path(".mp4") for _ in platforms]
    expected = max(1.0, until * float(fps))
    with contextlib.ExitStack() as stack:
        writers = [
            stack.enter_context(VideoWriter(path, w, h, fps=fps, audio=audio))
            for path, (w, h) in zip(paths, sizes, strict=True)
        ]
        for index, t, frame in frames_on_grid(
            source, fps, end_s=max(lengths), max_seconds=MAX_SOURCE_SECONDS
        ):
            if index % BATCH == 0:
                ctx.check_cancelled()
                ctx.progress(0.05 + 0.95 * min(1.0, index / expected))
            if frame.shape[0] != info.height or frame.shape[1] != info.width:
                raise InvalidInput("The video changes its picture size midway.")
            for writer, reframe, length in zip(writers, reframes, lengths, strict=True):
                if t < length - 1e-6:
                    writer.write(reframe(frame))
        if all(w.frames == 0 for w in writers):
            raise InvalidInput("The video has no frames that could be decoded.")
    for platform, mode, path, writer in zip(platforms, modes, paths, writers, strict=True):
        trimmed = _trimmed(validated, platform, info)
        ctx.add_output(
            OutputFile(
                path,
                "video/mp4",
                width=writer.width,
                height=writer.height,
                duration_s=round(writer.duration_s, 3),
                extra=_extra(platform, mode, source="video", trimmed=trimmed),
            )
        )


def _trimmed(validated: SocialVariantsInput, platform: Platform, info: VideoInfo) -> bool:
    return info.duration_s > platform.max_seconds or (
        validated.max_duration is not None and info.duration_s > validated.max_duration
    )


def _extra(platform: Platform, mode: str, *, source: str, trimmed: bool) -> dict[str, object]:
    return {
        "platform": platform.name,
        "aspect_ratio": platform.aspect,
        "reframe": mode,
        "source": source,
        "trimmed": trimmed,
    }
